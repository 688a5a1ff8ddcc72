import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helper.js';

/**
 * Large bodies on a real socket: read into shared buffers (pool/sharedBodies) that the worker reads in place and the
 * dispatch gives back, however the body arrives or fails.
 */
let app: FastifyInstance;
let inline: FastifyInstance;
let port: number;

beforeAll(async () => {
  // Bodies over 4 KiB go to a worker here; the second app scores the same bodies on the event loop, for reference.
  app = await buildTestApp({ inlineMaxBytes: 4096 });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as { port: number }).port;
  inline = await buildTestApp({ inlineMaxBytes: 1 << 20 });
});
afterAll(async () => {
  await app.close();
  await inline.close();
});

/** A raw HTTP/1.1 request: the head, then the body in pieces of `piece` bytes (all of it unless `sendBytes`). */
function rawRequest(path: string, headers: Record<string, string>, body: Buffer, options: { piece?: number; sendBytes?: number } = {}) {
  return new Promise<{ status: number; body: string } | null>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d+)/.exec(text);
      resolve(m === null ? null : { status: Number(m[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    const head = Object.entries({ host: 'x', connection: 'close', 'content-length': String(body.length), ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
    const end = options.sendBytes ?? body.length;
    const piece = options.piece ?? end;
    for (let at = 0; at < end; at += piece) socket.write(body.subarray(at, Math.min(end, at + piece)));
    if (options.sendBytes !== undefined) socket.end();
  });
}

const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await app.inject({ url: '/metrics' })).body)?.[1]);

/** A /cost body of about 100 kB: 10 × 1000 logits. */
function costBody(seed: number): Buffer {
  const logits = Array.from({ length: 10 }, (_, i) => Array.from({ length: 1000 }, (_, j) => Math.sin(seed + i * 1000 + j) * 4));
  return Buffer.from(JSON.stringify({ logits, labels: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }));
}

const JSON_TYPE = { 'content-type': 'application/json' };

describe('large bodies on shared buffers', () => {
  it('a body in one write and in 1 000-byte pieces, and 8 at once - the answer scored inline, and every buffer given back', async () => {
    const body = costBody(1);
    const expected = (await inline.inject({ method: 'POST', url: '/cost', headers: JSON_TYPE, payload: body })).body;
    const one = await rawRequest('/cost', JSON_TYPE, body);
    const pieces = await rawRequest('/cost', JSON_TYPE, body, { piece: 1000 });
    const many = await Promise.all(Array.from({ length: 8 }, () => rawRequest('/cost', JSON_TYPE, body, { piece: 7000 })));
    for (const r of [one, pieces, ...many]) expect(r).toEqual({ status: 200, body: expected });
    expect(await metric('xent_body_buffers_leased')).toBe(0);
    expect(await metric('xent_body_buffers_bytes')).toBeGreaterThanOrEqual(256 * 1024);
    expect(await metric('xent_elements_scored_total')).toBe(10 * 10_000);
  });

  it('an inference request with binary FP32 logits after a JSON header of odd length - as scored inline (the body placed so they are aligned)', async () => {
    const n = 4;
    const c = 5000;
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'logits', shape: [n, c], datatype: 'FP32', parameters: { binary_data_size: n * c * 4 } },
          { name: 'labels', shape: [n], datatype: 'INT32', parameters: { binary_data_size: n * 4 } },
        ],
      }) + ' ',
    );
    const tensors = Buffer.alloc(n * c * 4 + n * 4);
    for (let i = 0; i < n * c; i++) tensors.writeFloatLE(Math.cos(i) * 3, i * 4);
    for (let i = 0; i < n; i++) tensors.writeInt32LE(i * 7, n * c * 4 + i * 4);
    const body = Buffer.concat([header, tensors]);
    const headers = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) };
    const url = '/v2/models/cross_entropy/infer';
    const expected = await inline.inject({ method: 'POST', url, headers, payload: body });
    expect(expected.statusCode).toBe(200);
    expect(await rawRequest(url, headers, body, { piece: 4099 })).toEqual({ status: 200, body: expected.body });
    expect(await metric('xent_body_buffers_leased')).toBe(0);
  });

  it('a body refused by the worker, and a body cut short by the client - both buffers given back', async () => {
    const invalid = Buffer.from(`{"logits": [[${'1,'.repeat(5000)}1]], "labels": [0], "label_smoothing": "x"}`);
    const refused = await rawRequest('/cost', JSON_TYPE, invalid);
    expect(refused?.status).toBe(400);
    expect(JSON.parse(refused!.body).code).toBe('XENT_INVALID_OPTION');

    await rawRequest('/cost', JSON_TYPE, costBody(2), { sendBytes: 50_000 });
    // The server sees the end of the stream after the client has gone: wait for it to give the buffer back.
    for (let i = 0; i < 100 && (await metric('xent_body_buffers_leased')) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await metric('xent_body_buffers_leased')).toBe(0);
  });
});
