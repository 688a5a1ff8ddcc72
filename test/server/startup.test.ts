import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, SERVER, startServer, type Running } from './process.js';

/**
 * The process from a user's side (issue #13, items 7 and 8): start-up failures, `npm start`, and the logs it writes on
 * and off a terminal.
 */

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Runs the compiled server to its exit and returns its code and everything it wrote. */
async function runToExit(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SERVER], { env: { ...process.env, HOST: '127.0.0.1', WORKERS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('start-up failures - one readable line, exit 1', () => {
  it('a port already in use - one line naming the port and PORT, no stack trace, exit 1', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as { port: number };
    try {
      const { code, stdout, stderr } = await runToExit({ PORT: String(port) });
      expect(code).toBe(1);
      const lines = (stdout + stderr).trim().split('\n');
      expect(lines, stdout + stderr).toHaveLength(1);
      expect(lines[0]).toContain(String(port));
      expect(lines[0]).toContain('PORT');
      expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+/);
    } finally {
      blocker.close();
    }
  }, 30_000);
});

describe('npm start - no recompiling when nothing changed', () => {
  it('prestart with dist/ built from these sources (the suite has just built it) - says so and runs no tsc', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const out = execFileSync('npm', ['run', 'prestart'], { cwd: root, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'notice' } });
    expect(out).toContain('dist/ is up to date');
    expect(out).not.toMatch(/tsc -p|compiling/);
  }, 60_000);
});

/** The log lines of a server's stdout, parsed. */
const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('logs off a terminal - JSON, a banner first, one line per request', () => {
  let running: Running;
  beforeAll(async () => {
    running = await startServer({ WORKERS: '1', BODY_LIMIT: '100mb' });
  }, 30_000);
  afterAll(async () => {
    running.child.kill('SIGTERM');
    await running.exit;
  });

  it('the first line is the banner: version, the URL of /docs, workers and limits (BODY_LIMIT given as 100mb)', () => {
    const [first] = jsonLines(running.output());
    expect(first!.level).toBe(30);
    const banner = String(first!.msg);
    expect(banner).toContain(`xent ${version}`);
    expect(banner).toContain(`${running.url}/docs`);
    expect(banner).toContain('1 worker');
    expect(banner).toContain('BODY_LIMIT 100 MiB');
    expect(banner).toContain('MAX_ELEMENTS');
  });

  it('one line per request at info - route, status, duration, and the problem code of an error', async () => {
    const post = (url: string, body: unknown, id: string) =>
      fetch(`${running.url}${url}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': id }, body: JSON.stringify(body) });
    expect((await post('/cost', { logits: [[1, 2]], labels: [0] }, 'log-ok')).status).toBe(200);
    expect((await post('/loss', { logits: [[1, 2]] }, 'log-bad')).status).toBe(400);
    expect((await fetch(`${running.url}/loss`, { headers: { 'x-request-id': 'log-get' } })).status).toBe(405);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const lines = jsonLines(running.output());
    const of = (id: string) => lines.filter((l) => l.reqId === id);
    for (const id of ['log-ok', 'log-bad', 'log-get']) expect(of(id), id).toHaveLength(1);
    expect(of('log-ok')[0]).toMatchObject({ level: 30, method: 'POST', url: '/cost', route: '/cost', status: 200, responseTime: expect.any(Number) });
    expect(of('log-ok')[0]!.code).toBeUndefined();
    expect(of('log-bad')[0]).toMatchObject({ level: 30, route: '/loss', status: 400, code: 'XENT_MISSING_FIELD' });
    expect(of('log-get')[0]).toMatchObject({ status: 405, code: 'XENT_METHOD_NOT_ALLOWED' });
  });
});

describe('logs on a terminal - readable, the banner first', () => {
  // util-linux `script` gives the server a pseudo-terminal, as a developer's shell does.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('pretty lines (no JSON): the banner, then one line per request with status and code', async () => {
    const port = await freePort();
    const child = spawn('script', ['-qefc', `exec "${process.execPath}" "${SERVER}"`, '/dev/null'], {
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', WORKERS: '1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    const url = `http://127.0.0.1:${port}`;
    try {
      for (let i = 0; i < 200 && !(await fetch(`${url}/readyz`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
      await fetch(`${url}/loss`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"logits": [[1, 2]]}' });
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    // eslint-disable-next-line no-control-regex
    const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split(/\r?\n/).filter((l) => l.trim() !== '');
    expect(lines[0]).toMatch(new RegExp(`INFO.*xent ${version.replaceAll('.', '\\.')} ready at ${url} · docs ${url}/docs · 1 worker`));
    expect(lines.some((l) => l.startsWith('{'))).toBe(false);
    expect(lines.filter((l) => l.includes('POST /loss'))).toEqual([expect.stringMatching(/INFO.*POST \/loss 400 XENT_MISSING_FIELD [\d.]+ ms \(req-\d+\)/)]);
  }, 30_000);
});

describe('LOG_LEVEL=debug - a line as each request arrives too', () => {
  it('"incoming request" at debug, then the one info line, both with the request id', async () => {
    const server = await startServer({ WORKERS: '1', LOG_LEVEL: 'debug' });
    try {
      await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'debug-1' } });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const lines = jsonLines(server.output()).filter((l) => l.reqId === 'debug-1');
      expect(lines.map((l) => [l.level, l.msg])).toEqual([
        [20, 'incoming request'],
        [30, 'request completed'],
      ]);
    } finally {
      server.child.kill('SIGTERM');
      await server.exit;
    }
  }, 30_000);
});
