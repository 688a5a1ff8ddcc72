/**
 * `xent score`, the built CLI run as a child process on generated NDJSON files: its figures are those of one /cost
 * request over the same data (scored by the app), in this process and through a running service (--url); refused lines
 * are named by file and line; progress goes to stderr as plain lines off a terminal and as a bar on one; exit codes
 * 0, 1 and 2.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concatenated, expectWithinUlps, makeBatches } from '../dataset.js';
import { buildTestApp, post } from '../helper.js';
import { startServer, type Running } from '../server/process.js';

const CLI = fileURLToPath(new URL('../../dist/cli/xent.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `input` is written to its stdin, piece by piece with `pauseMs` between them. */
async function xent(args: string[], input: string[] = [], pauseMs = 0): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdin.on('error', () => {}); // the CLI may stop reading early
  for (const piece of input) {
    child.stdin.write(piece);
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  child.stdin.end();
  return { code: await exit, stdout, stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'xent-cli-'));
const file = (name: string, lines: string[]) => {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return path;
};

const OPTIONS = { class_weights: [1, 2, 0.5, 1, 3, 0.25], label_smoothing: 0.05, include: ['entropy', 'calibration'] };
const batches = makeBatches(15, 120);
const lines = batches.map((b) => JSON.stringify({ ...b, ...OPTIONS }));
const FIGURES = ['sum', 'cost', 'total_weight', 'perplexity', 'mean_entropy'];

let app: FastifyInstance;
let whole: Record<string, unknown>;
let data: string;
beforeAll(async () => {
  app = await buildTestApp();
  whole = (await post(app, '/cost', { ...concatenated(batches), ...OPTIONS })).body;
  // A blank line and a CRLF line on the way, as real files have them.
  data = file('data.ndjson', [...lines.slice(0, 40), '', `${lines[40]}\r`, ...lines.slice(41)]);
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

function expectWhole(result: Record<string, unknown>): void {
  expect(result.count).toBe(whole.count);
  expect(result.accuracy).toBe(whole.accuracy);
  expect(result.unit).toBe('nats');
  expectWithinUlps(result, whole, FIGURES);
  expect(result.calibration).toEqual(whole.calibration);
}

describe('xent score, in this process', () => {
  it('a file - the figures of one /cost request over the same data (within 2 ulp), exit 0', async () => {
    const run = await xent(['score', '--json', '--no-progress', data]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expectWhole(JSON.parse(run.stdout));
  });

  it('the dataset split over two files and stdin - the same figures', async () => {
    const a = file('a.ndjson', lines.slice(0, 50));
    const b = file('b.ndjson', lines.slice(50, 90));
    const run = await xent(['score', '--json', '--no-progress', a, '-', b], [lines.slice(90).join('\n')]);
    expect(run.code, run.stderr).toBe(0);
    expectWhole(JSON.parse(run.stdout));
  });

  it('without --json - a table with every figure in full', async () => {
    const run = await xent(['score', '--no-progress', data]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^.*data\.ndjson: 120 lines, /);
    expect(run.stdout).toMatch(new RegExp(`\\n  cost +${String(whole.cost).replace('.', '\\.')} nats\\n`));
    expect(run.stdout).toMatch(/\n {2}calibration +ece /);
  });

  it('a refused line - exit 1, the file and the line (blank lines counted) named, with the code and pointer', async () => {
    const bad = file('bad.ndjson', [lines[0]!, '', lines[1]!, JSON.stringify({ ...batches[2], ...OPTIONS, labels: batches[2]!.labels.map(() => 9) })]);
    const run = await xent(['score', '--no-progress', data, bad]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^xent: .*bad\.ndjson:4: \/labels\/0: .*\[XENT_LABEL_OUT_OF_RANGE\]/m);
    const json = await xent(['score', '--json', '--no-progress', bad]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'XENT_LABEL_OUT_OF_RANGE', line: 4, pointer: '/labels/0', file: bad });
  });

  it('a line that is not JSON, options that differ from the first line\'s, an empty input - exit 1 naming the line', async () => {
    const notJson = file('notjson.ndjson', [lines[0]!, '{"logits": [[0, 1]]']);
    expect((await xent(['score', '--no-progress', notJson])).stderr).toMatch(/notjson\.ndjson:2: .*\[XENT_INVALID_JSON\]/);
    const mixed = file('mixed.ndjson', [lines[0]!, lines[1]!, JSON.stringify({ ...batches[2], ...OPTIONS, unit: 'bits' })]);
    const run = await xent(['score', '--json', '--no-progress', mixed]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).error).toMatchObject({ code: 'XENT_STATE_MISMATCH', line: 3, pointer: '/unit' });
    const empty = await xent(['score', '--no-progress', file('empty.ndjson', ['', ''])]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/XENT_INVALID_BODY/);
  });

  it('a line longer than --max-line-bytes - exit 1 naming it', async () => {
    const run = await xent(['score', '--no-progress', '--max-line-bytes', '200', data]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/data\.ndjson:1: line 1 is longer than 200 bytes .*\[XENT_BODY_TOO_LARGE\]/);
  });

  it('a file that does not exist - exit 1 naming it, before anything is scored', async () => {
    const run = await xent(['score', data, join(dir, 'missing.ndjson')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/missing\.ndjson: cannot read it: ENOENT/);
    expect(run.stdout).toBe('');
  });
});

describe('xent score, progress', () => {
  it('off a terminal - plain progress lines on stderr at the pace asked, and a closing one with the counts', async () => {
    // Three pieces 300 ms apart through stdin: with a line every 0.1 s at most, at least one comes before the end.
    const pieces = [lines.slice(0, 40), lines.slice(40, 80), lines.slice(80)].map((p) => `${p.join('\n')}\n`);
    const run = await xent(['score', '--json', '--progress-every', '0.1', '-'], pieces, 300);
    expect(run.code, run.stderr).toBe(0);
    const progress = run.stderr.trim().split('\n');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const line of progress) expect(line).toMatch(/^xent: (scored )?[\d,]+ lines, [\d,]+ samples, [\d.]+ (B|kB|MB), [\d.]+ (B|kB|MB)\/s, /);
    const samples = batches.reduce((n, b) => n + b.labels.length, 0);
    expect(progress.at(-1)).toMatch(new RegExp(`^xent: scored 120 lines, ${samples.toLocaleString('en-US')} samples, .* cost [\\d.]+ nats$`));
    expectWhole(JSON.parse(run.stdout));
  });

  it('of a file off a terminal - its size, share and ETA in the lines', async () => {
    const run = await xent(['score', '--json', '--progress-every', '0', data]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^xent: scored 120 lines, .* of [\d.]+ kB \(100%\), .* in [\d.]+ s, cost /m);
  });

  it.skipIf(spawnSync('script', ['--version']).status !== 0)('on a terminal - a bar with the lines, samples, bytes, rate and ETA', () => {
    // util-linux `script` runs the CLI on a pseudo-terminal and copies what it draws.
    const run = spawnSync('script', ['-qec', `${process.execPath} ${CLI} score ${data}`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '160' } });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/█+ 100% \| 120 lines \| [\d,]+ samples \| [\d.]+ kB of [\d.]+ kB \| [\d.]+ (B|kB|MB)\/s \| ETA \d+s \| cost [\d.]+ nats/);
    expect(run.stdout).toMatch(/data\.ndjson: 120 lines,/);
  });
});

describe('xent score, the command line', () => {
  it('--help - documents every flag, exit 0', async () => {
    const run = await xent(['score', '--help']);
    expect(run.code).toBe(0);
    for (const flag of ['--url <url>', '--api-key <key>', '--json', '--no-progress', '--progress-every <seconds>', '--max-line-bytes <bytes>', '--max-elements <count>', '-h, --help']) {
      expect(run.stdout).toContain(flag);
    }
    expect(run.stdout).toMatch(/Exit codes: 0 scored; 1 .*; 2 a usage error/s);
    expect((await xent(['--help'])).stdout).toMatch(/score \[options\] <files\.\.\.>/);
    expect((await xent(['--version'])).code).toBe(0);
  });

  it('usage errors - exit 2: an unknown flag, no file, a bad --url, a bad number, stdin twice, no command', async () => {
    for (const args of [['score', '--bogus', data], ['score'], ['score', '--url', 'ftp://x', data], ['score', '--max-elements', '0', data], ['score', '-', '-'], []]) {
      const run = await xent(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).not.toBe('');
    }
  });
});

describe('xent score --url, through a running service', () => {
  let server: Running;
  beforeAll(async () => {
    server = await startServer({ WORKERS: '1', LOG_LEVEL: 'warn' });
  });
  afterAll(() => {
    server.child.kill('SIGTERM');
  });

  it('the same answer as in this process, byte for byte; progress from the service\'s lines', async () => {
    const here = await xent(['score', '--json', '--no-progress', data]);
    const there = await xent(['score', '--json', '--progress-every', '0', '--url', server.url, data]);
    expect(there.code, there.stderr).toBe(0);
    expect(there.stdout).toBe(here.stdout);
    expect(there.stderr).toMatch(/^xent: scored 120 lines, [\d,]+ samples, /m);
  });

  it('a refused line in the second file - exit 1 naming that file and its line', async () => {
    const bad = file('bad2.ndjson', [lines[0]!, '{"logits": [[0, 1]], "labels": [0]}']);
    const run = await xent(['score', '--json', '--no-progress', '--url', `${server.url}/`, data, bad]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout).error).toMatchObject({ code: 'XENT_STATE_MISMATCH', line: 2, file: bad });
    expect(run.stderr).toMatch(/bad2\.ndjson:2: /);
  });

  it('a service that cannot be reached - exit 1 saying so', async () => {
    const run = await xent(['score', '--no-progress', '--url', 'http://127.0.0.1:1', data]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cannot reach the service at http:\/\/127\.0\.0\.1:1/);
  });
});
