/**
 * POST /cost/stream at its edges: the streamed answer ends with the final counts; a client that goes away mid-stream
 * (or a stream Node cuts at REQUEST_TIMEOUT_MS) is not a failure of the service's, logged with a stack as one.
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBatches } from '../dataset.js';
import { buildTestApp } from '../helper.js';

const lines = makeBatches(7, 30).map((b) => JSON.stringify(b));

describe('POST /cost/stream, Accept: application/x-ndjson', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(async () => {
    await app.close();
  });

  it('the line before the result - progress with the final counts of lines, samples, bytes and the cost', async () => {
    const payload = `${lines.join('\n')}\n\n`;
    const res = await app.inject({
      method: 'POST',
      url: '/cost/stream',
      payload,
      headers: { 'content-type': 'application/x-ndjson', accept: 'application/x-ndjson' },
    });
    const answer = res.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, Record<string, unknown>>);
    const result = answer.at(-1)!.result!;
    expect(answer.at(-2)).toEqual({
      progress: { lines: 30, samples: result.count, bytes: Buffer.byteLength(payload), cost: result.cost },
    });
  });
});

describe('POST /cost/stream, a client that goes away mid-stream', () => {
  let app: FastifyInstance;
  const logs: Record<string, unknown>[] = [];
  let url: string;
  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).trim().split('\n')) logs.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    app = await buildTestApp({}, { logger: { level: 'debug', stream } });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app.close();
  });

  it.each(['application/json', 'application/x-ndjson'])('Accept: %s - nothing logged as an error', async (accept) => {
    const before = logs.length;
    const request = http.request(`${url}/cost/stream`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson', accept } });
    request.on('error', () => {});
    request.write(`${lines.slice(0, 5).join('\n')}\n`);
    await new Promise((r) => setTimeout(r, 300));
    request.destroy();
    // The route hears of it when the socket closes: give it that long, and a little more to log what it would.
    const connections = () => new Promise<number>((resolve) => app.server.getConnections((_err, n) => resolve(n)));
    for (let i = 0; i < 100 && (await connections()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const mine = logs.slice(before);
    expect(mine.some((l) => l.msg === 'incoming request')).toBe(true);
    expect(mine.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});
