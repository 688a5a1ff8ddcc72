/**
 * The short CI version of the load and soak run (bench/load.mjs; `npm run load` runs the long one): 4 s of
 * autocannon at saturation against the real process with a mix of valid and invalid requests, SIGTERM under load,
 * and byte-identical answers inline, in a worker, under load and across runs. The script does the checking and writes
 * its figures; this test runs it and asserts on them, so a regression fails CI with the figure that broke.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../bench/load.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'xent-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Tally {
  sent: number;
  ok: number;
  wrong: number;
  statuses: Record<string, number>;
}

interface Results {
  ok: boolean;
  failures: string[];
  mix: { name: string; expect: number | string }[];
  load: {
    requests: number;
    requestsPerSecond: number;
    errors: number;
    timeouts: number;
    fiveXxForValid: number;
    wrongAnswers: number;
    unattributed: number;
    workerFailures: number;
    queueSizeAfter: number;
    byRequest: Record<string, Tally>;
    rss: { first: { maxMiB: number }; last: { maxMiB: number }; peakMiB: number };
  };
  determinism: { runs: string[]; identical: boolean };
  shutdown: { exitCode: number; answered200: number; answeredOther: number; lost: number; unanswered: number; wrong: number };
}

function runLoad(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT],
      { env: { ...process.env, DURATION: '4', CONNECTIONS: '8', OUT: out }, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, output: `${stdout}${stderr}` }),
    );
  });
}

describe('load, shutdown under load and determinism (bench/load.mjs, 4 s)', () => {
  it('zero errors and timeouts, every valid request 200 with the exact bytes, every invalid one its 4xx, none lost on SIGTERM, identical across runs', async () => {
    const out = join(dir, 'load.json');
    const { code, output } = await runLoad(out);
    const results = JSON.parse(readFileSync(out, 'utf8')) as Results;
    expect(results.failures, output).toEqual([]);
    expect(code, output).toBe(0);

    const { load } = results;
    expect(load.requests).toBeGreaterThan(0);
    expect(load.errors).toBe(0);
    expect(load.timeouts).toBe(0);
    expect(load.fiveXxForValid).toBe(0);
    expect(load.wrongAnswers).toBe(0);
    expect(load.unattributed).toBe(0);
    expect(load.workerFailures).toBe(0);
    expect(load.queueSizeAfter).toBe(0);
    for (const { name, expect: expected } of results.mix) {
      const tally = load.byRequest[name]!;
      expect(tally.sent, name).toBeGreaterThan(0);
      expect(tally.ok, name).toBe(tally.sent);
      const statuses = Object.keys(tally.statuses).map(Number);
      if (expected === 200) expect(statuses, name).toEqual([200]);
      else for (const s of statuses) expect(s >= 400 && s < 500, `${name}: ${s}`).toBe(true);
    }
    // RSS is reported, not judged on a 4-second run; a gross leak still shows.
    expect(load.rss.peakMiB).toBeLessThan(2048);

    expect(results.determinism.identical).toBe(true);
    expect(results.determinism.runs.length).toBeGreaterThanOrEqual(5);

    const { shutdown } = results;
    expect(shutdown.exitCode).toBe(0);
    expect(shutdown.answered200).toBeGreaterThan(0);
    expect(shutdown.lost).toBe(0);
    expect(shutdown.unanswered).toBe(0);
    expect(shutdown.wrong).toBe(0);
    expect(shutdown.answeredOther).toBe(0);
  }, 180_000);
});
