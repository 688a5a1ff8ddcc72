/**
 * Answers given before a route runs, on the real process over raw sockets: the router's refusals, Node's own early
 * answers (no Host, an unknown Expect, CONNECT, malformed HTTP) are problem documents (or, under /v2, the inference
 * protocol's `{"error", "code"}`) with the API's security headers and an x-request-id; and a body over BODY_LIMIT
 * gets its 413 to a client that is still uploading (lingering close) instead of a reset.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINGER_BYTES } from '../../src/http/lingeringClose.js';
import { startServer, type Running } from './process.js';

const BODY_LIMIT = 1024 * 1024;

let running: Running;
let port: number;
beforeAll(async () => {
  running = await startServer({ BODY_LIMIT: String(BODY_LIMIT), WORKERS: '1' });
  port = Number(new URL(running.url).port);
});
afterAll(async () => {
  running.child.kill('SIGTERM');
  const exited = await Promise.race([running.exit, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
  if (exited === 'timeout') running.child.kill('SIGKILL');
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Every complete response in `text` (a 100 Continue included), in order; an incomplete one is left out. */
function responses(text: string): Answer[] {
  const found: Answer[] = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return found;
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1]);
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const length = status === 100 ? 0 : Number(headers['content-length'] ?? NaN);
    if (!Number.isInteger(length) || rest.length < end + 4 + length) return found;
    found.push({ status, headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
}

/**
 * Sends raw bytes on a fresh connection and returns the responses received once there is a final one, or the server
 * closed the connection, or `waitMs` passed.
 */
async function exchange(bytes: string, waitMs = 5000): Promise<Answer[]> {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('latin1');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    socket.on('data', (d: string) => {
      received += d;
      if (responses(received).some((r) => r.status >= 200)) done();
    });
    socket.on('close', done);
    socket.write(bytes);
  });
  socket.destroy();
  return responses(received);
}

/** The API's headers: the security headers and a request id. */
function expectApiHeaders(answer: Answer): void {
  expect(answer.headers['x-content-type-options']).toBe('nosniff');
  expect(answer.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  expect(answer.headers['x-request-id']).toMatch(/^\S+$/);
}

function expectProblem(answer: Answer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(JSON.parse(answer.body)).toMatchObject({ status, code, type: expect.stringMatching(/^urn:xent:problem:/), detail: expect.any(String) });
  expectApiHeaders(answer);
}

/** The inference protocol's error object under /v2. */
function expectInferenceError(answer: Answer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/json');
  expect(JSON.parse(answer.body)).toEqual({ error: expect.any(String), code });
  expectApiHeaders(answer);
}

describe("the router's refusals", () => {
  it('POST /cost% (a lone percent sign) - 400 XENT_BAD_REQUEST problem document with the API headers', async () => {
    const [answer] = await exchange('POST /cost% HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    expectProblem(answer!, 400, 'XENT_BAD_REQUEST');
  });

  it('GET /%C0%AF (an overlong UTF-8 encoding) - 400 XENT_BAD_REQUEST problem document', async () => {
    const [answer] = await exchange('GET /%C0%AF HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expectProblem(answer!, 400, 'XENT_BAD_REQUEST');
  });

  it('a bad URL under /v2 - 400 {"error", "code": "XENT_BAD_REQUEST"}, the inference protocol\'s form', async () => {
    const [answer] = await exchange('GET /v2/models/%C0%AF/ready HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expectInferenceError(answer!, 400, 'XENT_BAD_REQUEST');
  });

  it('a 10 kB model name (past the router\'s parameter limit) - 404 XENT_NOT_FOUND like any unknown model, under 1 kB, the name not echoed', async () => {
    const name = 'm'.repeat(10_000);
    for (const request of [
      `GET /v2/models/${name}/ready HTTP/1.1\r\nHost: localhost\r\n\r\n`,
      `GET /v2/models/cross_entropy/versions/${name} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
      `POST /v2/models/${name}/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    ]) {
      const [answer] = await exchange(request);
      expectInferenceError(answer!, 404, 'XENT_NOT_FOUND');
      expect(answer!.body.length).toBeLessThan(1024);
      expect(answer!.body).not.toContain('m'.repeat(100));
    }
  });
});

describe("Node's early answers", () => {
  it('HTTP/1.1 without Host - 400 XENT_BAD_REQUEST problem document, Connection: close', async () => {
    const [answer] = await exchange('GET /healthz HTTP/1.1\r\n\r\n');
    expectProblem(answer!, 400, 'XENT_BAD_REQUEST');
    expect(answer!.headers.connection).toBe('close');
  });

  it('HTTP/1.1 without Host under /v2 - 400 {"error", "code": "XENT_BAD_REQUEST"}', async () => {
    const [answer] = await exchange('POST /v2/models/cross_entropy/infer HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    expectInferenceError(answer!, 400, 'XENT_BAD_REQUEST');
    expect(answer!.headers.connection).toBe('close');
  });

  it('HTTP/1.0 without Host - answered (Host is required of HTTP/1.1 only)', async () => {
    const [answer] = await exchange('GET /healthz HTTP/1.0\r\n\r\n');
    expect(answer!.status).toBe(200);
  });

  it('an unknown Expect - 417 XENT_EXPECTATION_FAILED problem document, Connection: close', async () => {
    const [answer] = await exchange('POST /cost HTTP/1.1\r\nHost: localhost\r\nExpect: teapot\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n');
    expectProblem(answer!, 417, 'XENT_EXPECTATION_FAILED');
    expect(answer!.headers.connection).toBe('close');
  });

  it('Expect: 100-continue - still 100 Continue, then the answer', async () => {
    const body = JSON.stringify({ logits: [[2, 1, 0.1]], labels: [0] });
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (received += d));
    socket.write(`POST /cost HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    while (!received.includes('\r\n\r\n')) await new Promise((r) => setTimeout(r, 10));
    expect(received).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    socket.write(body);
    while (responses(received).length < 2) await new Promise((r) => setTimeout(r, 10));
    socket.destroy();
    const [, answer] = responses(received);
    expect(answer!.status).toBe(200);
    expect(JSON.parse(answer!.body)).toMatchObject({ count: 1 });
  });

  it('CONNECT - 404 XENT_NOT_FOUND problem document with the API headers, not a silent close', async () => {
    const [answer] = await exchange('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expectProblem(answer!, 404, 'XENT_NOT_FOUND');
  });

  it("requests Node's parser refuses (an invalid header name) carry a request id too", async () => {
    const [answer] = await exchange('GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n');
    expectProblem(answer!, 400, 'XENT_BAD_REQUEST');
  });
});

describe('a body over BODY_LIMIT: the 413 reaches a client that is still uploading', () => {
  const CHUNK = Buffer.alloc(256 * 1024, 0x20);

  /**
   * Uploads `bytes` of body (declared in Content-Length, or chunked) to POST `path` as fast as the connection takes
   * them. A `lazy` client sends the whole body before it reads anything, as many simple clients do; the other kind
   * reads all along. Returns everything received until the server closed the connection, and whether it was reset.
   */
  async function upload(path: string, bytes: number, framing: 'length' | 'chunked', lazy: boolean): Promise<{ received: string; error: string | null }> {
    const socket: Socket = connect(port, '127.0.0.1');
    let received = '';
    let error: string | null = null;
    if (lazy) socket.pause();
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
      socket.resume();
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        (framing === 'length' ? `Content-Length: ${bytes}\r\n\r\n` : 'Transfer-Encoding: chunked\r\n\r\n'),
    );
    const frame = framing === 'length' ? CHUNK : Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]);
    for (let sent = 0; sent < bytes && socket.writable; sent += CHUNK.length) {
      if (!socket.write(frame) && socket.writable) {
        await new Promise<void>((resolve) => {
          const done = () => {
            socket.off('drain', done).off('close', done);
            resolve();
          };
          socket.on('drain', done).on('close', done);
        });
      }
    }
    if (socket.writable) socket.end(framing === 'chunked' ? '0\r\n\r\n' : '');
    socket.resume();
    await closed;
    return { received, error };
  }

  function expectTooLarge(result: { received: string; error: string | null }, what: string): void {
    const [answer] = responses(result.received);
    expect(answer, `${what}: no complete answer (socket error: ${result.error})`).toBeDefined();
    expectProblem(answer!, 413, 'XENT_BODY_TOO_LARGE');
    expect(answer!.headers.connection).toBe('close');
  }

  it('4 clients at once sending 16 MB (Content-Length) before reading anything - each reads the whole 413 problem, then the end of the stream', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => upload('/cost', 16 * 1024 * 1024, 'length', true)));
    results.forEach((r, i) => {
      expectTooLarge(r, `client ${i}`);
      expect(r.error, `client ${i}`).toBeNull();
    });
  }, 60_000);

  it('4 clients at once sending a chunked 16 MB body before reading anything - each reads the whole 413 problem, then the end of the stream', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => upload('/loss', 16 * 1024 * 1024, 'chunked', true)));
    results.forEach((r, i) => {
      expectTooLarge(r, `client ${i}`);
      expect(r.error, `client ${i}`).toBeNull();
    });
  }, 60_000);

  it('the inference endpoint too: a lazy 16 MB upload gets its 413 in the protocol\'s form', async () => {
    const result = await upload('/v2/models/cross_entropy/infer', 16 * 1024 * 1024, 'length', true);
    const [answer] = responses(result.received);
    expect(answer, `no complete answer (socket error: ${result.error})`).toBeDefined();
    expectInferenceError(answer!, 413, 'XENT_BODY_TOO_LARGE');
    expect(answer!.headers.connection).toBe('close');
  }, 60_000);

  it('6 clients at once uploading 140 MB (3 with Content-Length, 3 chunked) while reading - each reads the whole 413 problem', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => upload('/cost', 140 * 1024 * 1024, i % 2 === 0 ? 'length' : 'chunked', false)),
    );
    results.forEach((r, i) => expectTooLarge(r, `client ${i}`));
  }, 60_000);

  it('fetch (undici) uploading a 140 MB stream - the 413 problem, not "fetch failed"', async () => {
    const results = await Promise.all(
      Array.from({ length: 3 }, async () => {
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= 140 * 1024 * 1024) controller.close();
            else {
              controller.enqueue(new Uint8Array(CHUNK));
              sent += CHUNK.length;
            }
          },
        });
        const res = await fetch(`${running.url}/cost`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          duplex: 'half',
        } as RequestInit);
        return { status: res.status, problem: (await res.json()) as { code?: string } };
      }),
    );
    for (const r of results) expect(r).toEqual({ status: 413, problem: expect.objectContaining({ code: 'XENT_BODY_TOO_LARGE' }) });
  }, 60_000);

  it('the draining is bounded: a client that goes on uploading after the 413 and its end of stream is cut off after LINGER_BYTES', async () => {
    // allowHalfOpen: the client does not close its side when the server closes its own; it keeps sending.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    let sent = 0;
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write('POST /cost HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const frame = Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')]);
    while (socket.writable && sent < 4 * LINGER_BYTES) {
      sent += CHUNK.length;
      if (!socket.write(frame) && socket.writable) {
        await new Promise<void>((resolve) => {
          const done = () => {
            socket.off('drain', done).off('close', done);
            resolve();
          };
          socket.on('drain', done).on('close', done);
        });
      }
    }
    await closed;
    expectTooLarge({ received, error: null }, 'the endless upload');
    // Cut off after BODY_LIMIT + LINGER_BYTES read, plus what the socket buffers held (or earlier, at LINGER_MS).
    expect(sent).toBeLessThan(BODY_LIMIT + LINGER_BYTES + 64 * 1024 * 1024);
  }, 60_000);

  it('the draining is bounded: a client that all but stops sending after the 413 and keeps its side open is closed after LINGER_MS', async () => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    let error: string | null = null;
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(`POST /cost HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${4 * BODY_LIMIT}\r\n\r\n`);
    socket.write(CHUNK);
    // A byte now and then: read and dropped while the server lingers, met with a reset once it has closed the socket
    // (the client never closes its side, so without the bound the connection would stay open).
    const timer = setInterval(() => socket.writable && socket.write(' '), 250);
    await closed;
    clearInterval(timer);
    expectTooLarge({ received, error: null }, 'the stalled upload');
    expect(error).toMatch(/^(ECONNRESET|EPIPE)$/);
  }, 60_000);

  it('the service goes on answering', async () => {
    const [answer] = await exchange('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(answer!.status).toBe(200);
    expect(running.child.exitCode).toBeNull();
  });
});

describe('lingering sockets and shutdown', () => {
  it('SIGTERM while a refused upload is being drained - the drain is cut short and the process exits 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    const server = await startServer({ BODY_LIMIT: String(BODY_LIMIT), WORKERS: '1', SHUTDOWN_TIMEOUT_MS: '4000' });
    try {
      const socket = connect({ port: Number(new URL(server.url).port), host: '127.0.0.1', allowHalfOpen: true });
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write(`POST /cost HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${4 * BODY_LIMIT}\r\n\r\n`);
      socket.write(Buffer.alloc(64 * 1024, 0x20));
      while (responses(received).length === 0) await new Promise((r) => setTimeout(r, 20));
      // The 413 is out and the server lingers (for up to 10 s, longer than SHUTDOWN_TIMEOUT_MS); the client keeps its side open.
      const timer = setInterval(() => socket.writable && socket.write(' '), 250);
      server.child.kill('SIGTERM');
      const exit = await server.exit;
      clearInterval(timer);
      socket.destroy();
      expect(responses(received)[0]!.status).toBe(413);
      expect(exit.code).toBe(0);
    } finally {
      server.child.kill('SIGKILL');
    }
  }, 30_000);
});
