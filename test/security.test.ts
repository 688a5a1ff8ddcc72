/**
 * Security: secrets and request bodies never reach the logs, even at LOG_LEVEL=trace on the real process; and no
 * answer echoes more than a bounded excerpt of what was sent, wherever in the request a huge value is put.
 */
import type { FastifyInstance } from 'fastify';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from './helper.js';
import { startServer, type Running } from './server/process.js';

const KEY = 'sk-live-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e';
const WRONG_KEY = 'sk-live-0000deadbeef0000deadbeef0000dead';
const MARKER = 'MARKER-b0dy-c0ntent-4e1f';
/** A number that appears only in request bodies. */
const NUMERIC_MARKER = '0.7130713071307131';

function send(url: string, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('logs at LOG_LEVEL=trace', () => {
  let running: Running;
  let logs: string;
  const answers: { what: string; status: number }[] = [];

  beforeAll(async () => {
    running = await startServer({ LOG_LEVEL: 'trace', API_KEYS: KEY });
    const auth = { authorization: `Bearer ${KEY}` };
    const large = JSON.stringify({ logits: Array.from({ length: 4 }, () => Array.from({ length: 30_000 }, (_, i) => (i === 7 ? Number(NUMERIC_MARKER) : i % 7))), labels: [0, 1, 2, 3] });
    const requests: [string, string, Record<string, string>][] = [
      ['valid, small', `{"logits":[[${NUMERIC_MARKER},1,2]],"labels":[0]}`, auth],
      ['valid, large (parsed in a worker)', large, auth],
      ['the marker as an unknown field', `{"logits":[[1,2]],"labels":[0],"${MARKER}":1}`, auth],
      ['the marker as a unit', `{"logits":[[1,2]],"labels":[0],"unit":"${MARKER}"}`, auth],
      ['the marker among the logits', `{"logits":[[1,"${MARKER}"]],"labels":[0]}`, auth],
      ['the marker in invalid JSON', `{"logits":[[1,2]],"labels":[0],"x":"${MARKER}`, auth],
      ['the marker in a large invalid body', `${large.slice(0, -1)},"${MARKER}":[${NUMERIC_MARKER}]}`, auth],
      ['a wrong key', `{"logits":[[1,2]],"labels":[0],"unit":"${MARKER}"}`, { authorization: `Bearer ${WRONG_KEY}` }],
      ['the key in another header', `{"logits":[[1,2]],"labels":[0]}`, { 'x-api-key': KEY, authorization: `Basic ${KEY}` }],
      ['no key', `{"logits":[[${NUMERIC_MARKER},1]],"labels":[0]}`, {}],
      // An internal error (a shape too deep for the stack) is logged with its error: still no body in the log.
      ['a request that fails inside', `{"logits":${'['.repeat(20_000)}${NUMERIC_MARKER}${']'.repeat(20_000)},"labels":[0],"unit":"bits"}`, auth],
    ];
    for (const [what, body, headers] of requests) answers.push({ what, status: (await send(running.url, '/loss', body, headers)).status });
    // Malformed HTTP (an invalid header name) carrying the key and a body: Node's parser error holds the raw bytes.
    const body = `{"logits":[[1,2]],"labels":[0],"unit":"${MARKER}"}`;
    const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /loss HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nBad Header: x\r\n\r\n${body}`,
    );
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    running.child.kill('SIGTERM');
    await running.exit;
    // Buffers are logged as {"type":"Buffer","data":[bytes]}: read them as text too.
    const raw = running.output();
    const buffers = [...raw.matchAll(/"data":\[([0-9,]+)\]/g)].map((m) => Buffer.from(m[1]!.split(',').map(Number)).toString('latin1'));
    logs = [raw, ...buffers].join('\n');
  }, 60_000);
  afterAll(() => {
    running.child.kill('SIGKILL');
  });

  it('the requests were answered, and logged at trace level', () => {
    expect(answers.find((a) => a.what === 'valid, small')?.status).toBe(200);
    expect(answers.find((a) => a.what === 'valid, large (parsed in a worker)')?.status).toBe(200);
    expect(answers.find((a) => a.what === 'a wrong key')?.status).toBe(401);
    expect(logs.match(/request completed/g)?.length ?? 0).toBeGreaterThanOrEqual(answers.length);
    expect(logs).toMatch(/"level":10/); // trace lines are there (the malformed request's): the level was honoured
  });

  it('neither the API key, nor a wrong key, nor any body content appears anywhere in the logs, raw bytes included', () => {
    /** The log lines (raw bytes decoded) that contain `secret`, cut short. */
    const linesWith = (secret: string) => logs.split('\n').filter((line) => line.includes(secret)).map((line) => line.slice(0, 300));
    expect(linesWith(KEY)).toEqual([]);
    expect(linesWith(KEY.slice(8, 24))).toEqual([]); // nor a part of it
    expect(linesWith(WRONG_KEY)).toEqual([]);
    expect(linesWith(MARKER)).toEqual([]);
    expect(linesWith(NUMERIC_MARKER)).toEqual([]);
  });
});

describe('answers echo at most a bounded excerpt of the request', () => {
  const MB = 'x'.repeat(1024 * 1024);
  let apps: FastifyInstance[];
  beforeAll(async () => {
    apps = [await buildTestApp(), await buildTestApp({ inlineMaxBytes: 0 })];
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
  });

  const cases: [string, string][] = [
    ['a 1 MB string among the logits', `{"logits":[[1,"${MB}"]],"labels":[0]}`],
    ['a 1 MB string as a label', `{"logits":[[1,2]],"labels":["${MB}"]}`],
    ['a 1 MB string as a target', `{"logits":[[1,2]],"targets":[[1,"${MB}"]]}`],
    ['a 1 MB string as a class weight', `{"logits":[[1,2]],"labels":[0],"class_weights":[1,"${MB}"]}`],
    ['a 1 MB unit', `{"logits":[[1,2]],"labels":[0],"unit":"${MB}"}`],
    ['a 1 MB ignore_index', `{"logits":[[1,2]],"labels":[0],"ignore_index":"${MB}"}`],
    ['a 1 MB label_smoothing', `{"logits":[[1,2]],"labels":[0],"label_smoothing":"${MB}"}`],
    ['a 1 MB value of an unknown field', `{"logits":[[1,2]],"labels":[0],"extra":"${MB}"}`],
    ['a 1 MB string as the logits', `{"logits":"${MB}","labels":[0]}`],
    ['a 1 MB string as the body', `"${MB}"`],
    ['a 1 MB number', `{"logits":[[1,${'9'.repeat(1024 * 1024)}]],"labels":[0]}`],
    ['invalid JSON around a 1 MB string', `{"logits":[[1,2]],"labels":[0],"x":"${MB}`],
    ['invalid JSON after a 1 MB string', `{"logits":[[1,2]],"labels":[0],"x":"${MB}" oops}`],
    ['ten 1 MB strings among the logits', `{"logits":[[${Array.from({ length: 10 }, () => `"${MB}"`).join(',')}]],"labels":[0]}`],
    // An unknown field's name is echoed whole in `pointer`, `detail` and `errors[].pointer`.
    ['a 1 MB unknown field name', `{"logits":[[1,2]],"labels":[0],"${MB}":1}`],
    ['ten 100 kB unknown field names', `{"logits":[[1,2]],"labels":[0],${Array.from({ length: 10 }, (_, i) => `"${i}${MB.slice(0, 100_000)}":1`).join(',')}}`],
  ];

  for (const [name, body] of cases) {
    it(`${name} - a 4xx problem of under 4 kB, inline and in a worker`, async () => {
      for (const app of apps) {
        const res = await app.inject({ method: 'POST', url: '/loss', payload: body, headers: { 'content-type': 'application/json' } });
        expect(res.statusCode).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
        expect(res.body.length).toBeLessThan(4096);
      }
    });
  }

  it('an 8 kB URL - a 404 problem of under 4 kB', async () => {
    const res = await apps[0]!.inject({ method: 'POST', url: `/${'u'.repeat(8192)}`, payload: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(404);
    expect(res.body.length).toBeLessThan(4096);
  });
});
