/**
 * Slow and abusive clients against the real process (dist/server.js) with REQUEST_TIMEOUT_MS = 1000, 2 workers and a
 * queue of 4: slow headers and slow bodies are cut off soon after the timeout, idle connections do not starve anyone,
 * and clients that vanish mid-body or while their request is being scored leave no crash, no error and no task
 * behind. Bounds are coarse (seconds), so a loaded machine does not make them flaky.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type Running } from '../server/process.js';

const REQUEST_TIMEOUT_MS = 1000;
/** How long after REQUEST_TIMEOUT_MS a slow client may still hold its connection. */
const MARGIN_MS = 4000;

let running: Running;
let port: number;
beforeAll(async () => {
  running = await startServer({ REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), WORKERS: '2', MAX_QUEUE: '4' });
  port = Number(new URL(running.url).port);
});
afterAll(async () => {
  running.child.kill('SIGTERM');
  const exited = await Promise.race([running.exit, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
  if (exited === 'timeout') running.child.kill('SIGKILL');
});

/** One request on a fresh connection; resolves with status, body and how long it took. */
function http(method: string, path: string, body?: string, timeoutMs = 10_000): Promise<{ status: number; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const req = request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text, ms: Date.now() - start }));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Probes /healthz every 250 ms on fresh connections until stopped; returns every probe's status and time. */
function probeHealth(): { stop: () => Promise<{ status: number; ms: number }[]> } {
  const results: Promise<{ status: number; ms: number }>[] = [];
  const timer = setInterval(() => {
    results.push(http('GET', '/healthz', undefined, 5000).catch(() => ({ status: 0, ms: Infinity })));
  }, 250);
  return {
    stop: async () => {
      clearInterval(timer);
      return Promise.all(results);
    },
  };
}

async function metric(name: string): Promise<number> {
  const text = (await http('GET', '/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

/** A raw TCP client: what it received, and when the server closed (or reset) the connection. */
interface Raw {
  socket: Socket;
  received: () => string;
  closed: Promise<number>;
}

async function rawClient(to = port): Promise<Raw> {
  const socket = connect(to, '127.0.0.1');
  const opened = Date.now();
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (received += d));
  socket.on('error', () => {}); // a reset is one way of being cut off
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - opened)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => received, closed };
}

/** Writes `chunk()` every `everyMs` until the socket closes. */
function dribble(raw: Raw, chunk: () => string, everyMs: number): void {
  const timer = setInterval(() => {
    if (raw.socket.destroyed || !raw.socket.writable) clearInterval(timer);
    else raw.socket.write(chunk());
  }, everyMs);
  void raw.closed.then(() => clearInterval(timer));
}

/** Waits for a raw client to be closed by the server, or gives up (and closes it) after `limitMs`. */
async function closedWithin(raw: Raw, limitMs: number): Promise<number> {
  const t = await Promise.race([raw.closed, new Promise<number>((r) => setTimeout(() => r(Infinity), limitMs))]);
  raw.socket.destroy();
  return t;
}

/** 8 × 25 000 logits (~1.5 MB): parsed and scored in a worker for tens of milliseconds. */
function largeBody(): string {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 6 - 3;
  const logits = Array.from({ length: 8 }, () => Array.from({ length: 25_000 }, () => Number(random().toFixed(5))));
  return JSON.stringify({ logits, labels: [0, 1, 2, 3, 4, 5, 6, 7] });
}

describe('slow clients (slowloris)', () => {
  it('10 clients sending headers one line every 200 ms - each cut off within REQUEST_TIMEOUT_MS + 4 s, /healthz stays fast', async () => {
    const probe = probeHealth();
    const clients = await Promise.all(Array.from({ length: 10 }, () => rawClient()));
    let n = 0;
    for (const c of clients) {
      c.socket.write('POST /loss HTTP/1.1\r\nHost: localhost\r\n');
      dribble(c, () => `X-Slow-${n++}: 1\r\n`, 200);
    }
    const times = await Promise.all(clients.map((c) => closedWithin(c, 15_000)));
    const health = await probe.stop();
    expect(health.every((h) => h.status === 200 && h.ms < 2000), JSON.stringify(health)).toBe(true);
    for (const c of clients) expect(c.received()).toMatch(/^$|^HTTP\/1\.1 408/);
    expect(Math.max(...times), `closed after ${times.join(', ')} ms`).toBeLessThan(REQUEST_TIMEOUT_MS + MARGIN_MS);
  }, 30_000);

  it('10 clients sending a 1 000-byte body one byte every 200 ms - each cut off within REQUEST_TIMEOUT_MS + 4 s, /healthz stays fast', async () => {
    const probe = probeHealth();
    const clients = await Promise.all(Array.from({ length: 10 }, () => rawClient()));
    for (const c of clients) {
      c.socket.write('POST /loss HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
      dribble(c, () => ' ', 200);
    }
    const times = await Promise.all(clients.map((c) => closedWithin(c, 15_000)));
    const health = await probe.stop();
    expect(health.every((h) => h.status === 200 && h.ms < 2000), JSON.stringify(health)).toBe(true);
    for (const c of clients) expect(c.received()).toMatch(/^$|^HTTP\/1\.1 (408|503)/);
    expect(Math.max(...times), `closed after ${times.join(', ')} ms`).toBeLessThan(REQUEST_TIMEOUT_MS + MARGIN_MS);
  }, 30_000);
});

describe('requests Node\'s HTTP parser refuses are problem documents too', () => {
  /** Sends raw bytes and returns everything received until the server closes the connection. */
  async function exchange(bytes: string): Promise<{ status: number; type: string; nosniff: boolean; problem: { code?: string; status?: number } }> {
    const c = await rawClient();
    c.socket.write(bytes);
    await closedWithin(c, REQUEST_TIMEOUT_MS + MARGIN_MS);
    const text = c.received();
    const [head = '', payload = ''] = text.split('\r\n\r\n');
    return {
      status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]),
      type: /^content-type: (.*)$/im.exec(head)?.[1] ?? '',
      nosniff: /^x-content-type-options: nosniff$/im.test(head) && /^content-security-policy: default-src 'none'/im.test(head),
      problem: JSON.parse(payload || '{}') as { code?: string; status?: number },
    };
  }

  it('headers that never end: 408 XENT_REQUEST_TIMEOUT', async () => {
    const c = await rawClient();
    c.socket.write('POST /loss HTTP/1.1\r\nHost: localhost\r\n');
    dribble(c, () => 'X-Slow: 1\r\n', 200);
    await closedWithin(c, REQUEST_TIMEOUT_MS + MARGIN_MS);
    const [head = '', payload = ''] = c.received().split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(head).toMatch(/^content-type: application\/problem\+json/im);
    expect(JSON.parse(payload)).toMatchObject({ status: 408, code: 'XENT_REQUEST_TIMEOUT' });
  }, 15_000);

  it('a body that stops arriving: 408 XENT_REQUEST_TIMEOUT, before the idle connection is cut', async () => {
    const c = await rawClient();
    c.socket.write('POST /loss HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"logits":');
    await closedWithin(c, REQUEST_TIMEOUT_MS + MARGIN_MS);
    const [head = '', payload = ''] = c.received().split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(payload)).toMatchObject({ status: 408, code: 'XENT_REQUEST_TIMEOUT' });
  }, 15_000);

  it('headers beyond Node\'s 16 KiB limit: 431 XENT_HEADERS_TOO_LARGE', async () => {
    const res = await exchange(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
    expect(res).toMatchObject({ status: 431, nosniff: true, type: expect.stringMatching(/^application\/problem\+json/), problem: { status: 431, code: 'XENT_HEADERS_TOO_LARGE' } });
  }, 15_000);

  it('an invalid header name: 400 XENT_BAD_REQUEST', async () => {
    const res = await exchange('GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n');
    expect(res).toMatchObject({ status: 400, nosniff: true, type: expect.stringMatching(/^application\/problem\+json/), problem: { status: 400, code: 'XENT_BAD_REQUEST' } });
  }, 15_000);
});

describe('idle connections', () => {
  it('200 idle keep-alive connections (after one request each) and 200 that never send a byte - /healthz and scoring still answer', async () => {
    const keptAlive = await Promise.all(Array.from({ length: 200 }, () => rawClient()));
    for (const c of keptAlive) c.socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
    const silent = await Promise.all(Array.from({ length: 200 }, () => rawClient()));
    const deadline = Date.now() + 10_000;
    while (keptAlive.some((c) => !c.received().startsWith('HTTP/1.1 200')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(keptAlive.filter((c) => c.received().startsWith('HTTP/1.1 200'))).toHaveLength(200);

    const health = await http('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.ms).toBeLessThan(2000);
    const scored = await http('POST', '/cost', JSON.stringify({ logits: [[2, 1, 0.1]], labels: [0] }));
    expect(scored.status).toBe(200);
    for (const c of [...keptAlive, ...silent]) c.socket.destroy();
  }, 30_000);

  it('connections that never send a byte are closed by the server (the header deadline, REQUEST_TIMEOUT_MS)', async () => {
    const silent = await Promise.all(Array.from({ length: 50 }, () => rawClient()));
    const times = await Promise.all(silent.map((c) => closedWithin(c, 15_000)));
    expect(Math.max(...times)).toBeLessThan(REQUEST_TIMEOUT_MS + MARGIN_MS);
  }, 30_000);
});

describe('clients that disconnect', () => {
  const body = largeBody();
  let expected: string;
  beforeAll(async () => {
    const res = await http('POST', '/cost', body);
    expect(res.status).toBe(200);
    expected = res.body;
  });

  it('20 clients that send half of a 1.5 MB body and vanish - no crash, no error logged, the next requests are answered', async () => {
    const failuresBefore = await metric('xent_worker_failures_total');
    const half = body.slice(0, body.length / 2);
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = await rawClient();
        c.socket.write(`POST /cost HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
        await new Promise<void>((resolve) => c.socket.write(half, () => resolve()));
        c.socket.destroy();
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(running.child.exitCode).toBeNull();
    const again = await http('POST', '/cost', body);
    expect(again.status).toBe(200);
    expect(again.body).toBe(expected);
    expect(await metric('xent_worker_failures_total')).toBe(failuresBefore);
    expect(errorsLogged()).toEqual([]);
  }, 30_000);

  it('12 clients that send a whole 1.5 MB body and vanish while it is scored in a worker - no crash, the queue drains to 0, nothing leaked', async () => {
    const failuresBefore = await metric('xent_worker_failures_total');
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        const c = await rawClient();
        c.socket.write(`POST /loss HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
        await new Promise<void>((resolve) => c.socket.write(body, () => resolve()));
        await new Promise((r) => setTimeout(r, 20)); // let the server read it and hand it to the pool
        c.socket.destroy();
      }),
    );
    // Abandoned tasks finish (or time out) and free their place: the pool empties (running tasks included, or the six
    // requests below could meet a full pool) and /readyz is 200 again.
    const deadline = Date.now() + 10_000;
    while ((await metric('xent_pool_pending_tasks')) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await metric('xent_pool_pending_tasks')).toBe(0);
    expect(await metric('xent_pool_queue_size')).toBe(0);
    expect((await http('GET', '/readyz')).status).toBe(200);
    expect(running.child.exitCode).toBeNull();
    // A task abandoned at REQUEST_TIMEOUT_MS costs its worker, which is replaced.
    while ((await metric('xent_pool_threads')) !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await metric('xent_pool_threads')).toBe(2);
    expect(await metric('xent_worker_failures_total')).toBe(failuresBefore);
    // The pool has its whole capacity back (WORKERS + MAX_QUEUE = 6): a task leaked by an abandoned request would
    // make one of 6 concurrent large requests a 503 XENT_OVERLOADED.
    const next = await Promise.all(Array.from({ length: 6 }, () => http('POST', '/cost', body)));
    for (const r of next) {
      expect(r.status).toBe(200);
      expect(r.body).toBe(expected);
    }
    expect(errorsLogged()).toEqual([]);
  }, 30_000);
});

describe('a client caught by the shutdown', () => {
  it('a request whose headers complete after SIGTERM, on a connection opened before - a 200, or a 503 problem document with a code and Retry-After', async () => {
    const server = await startServer({ REQUEST_TIMEOUT_MS: '10000' });
    try {
      const c = await rawClient(Number(new URL(server.url).port));
      const body = JSON.stringify({ logits: [[2, 1, 0.1]], labels: [0] });
      c.socket.write('POST /cost HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n');
      await new Promise((r) => setTimeout(r, 200));
      server.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500)); // close() has begun: the listener is closed, this connection is not idle
      c.socket.write(`Content-Length: ${body.length}\r\n\r\n${body}`);
      expect(await closedWithin(c, 10_000)).toBeLessThan(10_000);
      const [head = '', payload = ''] = c.received().split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 (200|503) /);
      if (head.startsWith('HTTP/1.1 503')) {
        expect(head).toMatch(/^content-type: application\/problem\+json/im);
        expect(head).toMatch(/^retry-after: /im);
        expect(JSON.parse(payload)).toMatchObject({ status: 503, code: 'XENT_SHUTTING_DOWN' });
      }
      expect((await server.exit).code).toBe(0);
    } finally {
      server.child.kill('SIGKILL');
    }
  }, 30_000);
});

/**
 * Log lines at error level or above (pino: 50, 60) other than the pool's expected 503s (a task past
 * REQUEST_TIMEOUT_MS), and anything that is not a JSON log line (a crash trace).
 */
function errorsLogged(): string[] {
  return running
    .output()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      try {
        const entry = JSON.parse(line) as { level?: number; err?: { type?: string } };
        return entry.level! >= 50 && entry.err?.type !== 'PoolUnavailableError';
      } catch {
        return true;
      }
    });
}
