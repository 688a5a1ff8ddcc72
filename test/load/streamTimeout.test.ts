/**
 * A stream must arrive within REQUEST_TIMEOUT_MS (README "Whole datasets"): Node's server-wide request timeout counts
 * from a request's first byte to its last, for POST /cost/stream as for any request, however steadily it sends. Pinned
 * here on a real server with a 1.5 s timeout and a client sending a line every 100 ms for 4 s: before any answer a 408,
 * after progress lines a closed connection, and the CLI's --url says what happened. (Timing-bound: test/load.)
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type Running } from '../server/process.js';

const LINE = `${JSON.stringify({ logits: [[1, 2, 3]], labels: [2] })}\n`;

/** Sends a line every 100 ms for up to `ms`; resolves with the status, what arrived, and how it ended. */
function slowStream(url: string, accept: string, ms: number): Promise<{ status: number; body: string; ended: 'end' | 'aborted'; seconds: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const request = http.request(`${url}/cost/stream`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', accept } });
    let sent = 0;
    const timer = setInterval(() => {
      if (request.destroyed || sent * 100 >= ms) {
        clearInterval(timer);
        request.end();
        return;
      }
      request.write(LINE);
      sent++;
    }, 100);
    request.on('error', () => {});
    request.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      const done = (ended: 'end' | 'aborted') => {
        clearInterval(timer);
        resolve({ status: res.statusCode!, body, ended, seconds: (performance.now() - started) / 1000 });
      };
      res.on('end', () => done('end'));
      res.on('aborted', () => done('aborted'));
      res.on('error', () => done('aborted'));
    });
  });
}

describe('POST /cost/stream and REQUEST_TIMEOUT_MS', () => {
  let server: Running;
  beforeAll(async () => {
    server = await startServer({ WORKERS: '1', LOG_LEVEL: 'warn', REQUEST_TIMEOUT_MS: '1500' });
  });
  afterAll(() => {
    server.child.kill('SIGTERM');
  });

  it('Accept: application/json - a 408 once the stream has taken longer than the timeout, however steady', async () => {
    const res = await slowStream(server.url, 'application/json', 4000);
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'XENT_REQUEST_TIMEOUT' });
    expect(res.seconds).toBeGreaterThanOrEqual(1.4);
  });

  it('Accept: application/x-ndjson - progress lines, then the connection is closed without a result', async () => {
    const res = await slowStream(server.url, 'application/x-ndjson', 4000);
    expect(res.status).toBe(200);
    expect(res.ended).toBe('aborted');
    expect(res.body).toContain('"progress"');
    expect(res.body).not.toContain('"result"');
  });

  it('xent score --url - exit 1, saying the stream must arrive within REQUEST_TIMEOUT_MS', async () => {
    const cli = fileURLToPath(new URL('../../dist/cli/xent.js', import.meta.url));
    const child = spawn(process.execPath, [cli, 'score', '--no-progress', '--url', server.url, '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => {});
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    for (let i = 0; i < 40 && child.exitCode === null; i++) {
      child.stdin.write(LINE);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.stdin.end();
    expect(await exit).toBe(1);
    expect(stderr).toMatch(/closed the stream without an answer after [\d.]+ s .*REQUEST_TIMEOUT_MS/);
  });
});
