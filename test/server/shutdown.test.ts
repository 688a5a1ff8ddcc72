import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { SERVER, startServer, type Running } from './process.js';

let running: Running | undefined;
afterEach(() => {
  running?.child.kill('SIGKILL');
  running = undefined;
});

/** A body big enough (8×50 000 logits, ~3 MB) to be parsed and scored in a worker for tens of milliseconds. */
function largeBody(): string {
  let seed = 11;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 6 - 3;
  const logits = Array.from({ length: 8 }, () => Array.from({ length: 50_000 }, () => Number(random().toFixed(5))));
  return JSON.stringify({ logits, labels: [0, 1, 2, 3, 4, 5, 6, 7] });
}

/** One POST on its own connection, so that closing the listener cannot refuse it after it was accepted. */
function postOnce(url: string, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('graceful shutdown of the real process', () => {
  it('SIGTERM while requests are in flight - readiness turns 503 during the drain, every accepted request succeeds, exit 0', async () => {
    running = await startServer({ INLINE_MAX_BYTES: '65536', SHUTDOWN_DRAIN_MS: '400' });
    const { url, child } = running;
    const body = largeBody();
    const expected = await postOnce(url, '/cost', body);
    expect(expected.status).toBe(200);

    const readyz = () =>
      new Promise<number>((resolve, reject) => {
        request(`${url}/readyz`, { agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        })
          .on('error', reject)
          .end();
      });
    expect(await readyz()).toBe(200);

    const inFlight = Array.from({ length: 12 }, () => postOnce(url, '/cost', body));
    await new Promise((r) => setTimeout(r, 150)); // let the server accept them
    const signalled = Date.now();
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100)); // the signal is handled on the server's next turn
    const during = await readyz().catch(() => 'closed');
    const results = await Promise.all(inFlight);
    const { code } = await running.exit;

    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body).toBe(expected.body);
    }
    expect(during).toBe(503);
    expect(code).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(running.output()).toMatch(/shutting down/);
  });

  it('SIGTERM without a drain delay while 24 large requests are queued - none is lost, exit 0', async () => {
    running = await startServer({ INLINE_MAX_BYTES: '65536' });
    const { url, child } = running;
    const body = largeBody();
    const expected = await postOnce(url, '/cost', body);
    const inFlight = Array.from({ length: 24 }, () => postOnce(url, '/cost', body));
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 24 }, () => 200));
    for (const r of results) expect(r.body).toBe(expected.body);
    expect((await running.exit).code).toBe(0);
  });

  it('SIGINT on an idle server - exits 0 at once', async () => {
    running = await startServer();
    const started = Date.now();
    running.child.kill('SIGINT');
    expect((await running.exit).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('configuration errors', () => {
  it('an invalid variable - exits 1 at once with a message naming it, and never echoes API_KEYS', async () => {
    const child = spawn(process.execPath, [SERVER], {
      env: { ...process.env, PORT: 'eighty', WORKERS: '0', API_KEYS: 'short-secret' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr).toContain('PORT="eighty"');
    expect(stderr).toContain('WORKERS');
    expect(stderr).toContain('API_KEYS=(hidden)');
    expect(stderr).not.toContain('short-secret');
  });
});
