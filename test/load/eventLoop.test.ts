/**
 * The event loop stays free while hostile bodies are refused: 64 MiB of nested arrays (deep, or wide and empty), sent
 * plain or as 65 kB of gzip, on both protocols, against the real process. /healthz is probed on fresh connections
 * every 20 ms meanwhile and must answer every time within 100 ms (the hardening issue's bound); every bomb must get
 * its 4xx. A timing bound, so it runs with the load suites (`npm run test:load`).
 *
 * XENT_SERVER=<path to another build's server.js> measures that build instead (how the figure before the fix was
 * taken); the latencies are printed either way.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type Running } from '../server/process.js';

const MiB = 1024 * 1024;
const BODY_LIMIT = 64 * MiB;
const PROBE_EVERY_MS = 20;
const PROBE_BOUND_MS = 100;

let running: Running;
let port: number;
beforeAll(async () => {
  running = await startServer({ LOG_LEVEL: 'warn' }, process.env.XENT_SERVER);
  port = Number(new URL(running.url).port);
});
afterAll(async () => {
  running.child.kill('SIGTERM');
  const exited = await Promise.race([running.exit, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
  if (exited === 'timeout') running.child.kill('SIGKILL');
});

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** One request on a fresh connection. */
function send(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: body === undefined ? headers : { 'content-length': String(body.length), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - start }));
      },
    );
    req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Probes /healthz every PROBE_EVERY_MS on fresh connections while `work` runs; the probes' times. */
async function probedWhile<T>(work: () => Promise<T>): Promise<{ result: T; probes: number[] }> {
  const probes: Promise<number>[] = [];
  const timer = setInterval(() => probes.push(send('GET', '/healthz').then((a) => (a.status === 200 ? a.ms : Infinity), () => Infinity)), PROBE_EVERY_MS);
  try {
    const result = await work();
    return { result, probes: await Promise.all(probes) };
  } finally {
    clearInterval(timer);
  }
}

/** A JSON text of `bytes` bytes at most: an array nested as deep as the bytes allow, `[[[…]]]`. */
function deepArrays(bytes: number): string {
  const depth = Math.floor(bytes / 2);
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** A JSON text of `bytes` bytes at most: an array of empty arrays, `[[],[],…]`. */
function wideEmptyArrays(bytes: number): string {
  return `[${'[],'.repeat(Math.floor((bytes - 4) / 3))}[]]`;
}

const BOMBS = { 'deeply nested arrays': deepArrays, 'millions of empty arrays': wideEmptyArrays } as const;

/** A body of at most BODY_LIMIT bytes whose one tensor is the bomb. */
function inferenceBody(bomb: (bytes: number) => string): Buffer {
  const head = '{"inputs":[{"name":"logits","shape":[2,3],"datatype":"FP64","data":';
  const tail = '},{"name":"labels","shape":[2],"datatype":"INT64","data":[0,1]}]}';
  return Buffer.from(head + bomb(BODY_LIMIT - head.length - tail.length - 16) + tail);
}

function scoreBody(bomb: (bytes: number) => string): Buffer {
  const head = '{"labels":[0],"logits":';
  return Buffer.from(`${head}${bomb(BODY_LIMIT - head.length - 16)}}`);
}

function summary(probes: number[]): string {
  const sorted = [...probes].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  return `${probes.length} probes, median ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

describe('hostile 64 MiB bodies are refused off the event loop', () => {
  for (const [name, bomb] of Object.entries(BOMBS)) {
    const cases = [
      ['the inference protocol, plain', '/v2/models/cross_entropy/infer', () => inferenceBody(bomb), {}],
      ['the inference protocol, gzip', '/v2/models/cross_entropy/infer', () => gzipSync(inferenceBody(bomb)), { 'content-encoding': 'gzip' }],
      ['POST /loss', '/loss', () => scoreBody(bomb), {}],
    ] as const;
    for (const [how, path, body, headers] of cases) {
      it(`${name}, ${how} - 4xx, and /healthz answers within ${PROBE_BOUND_MS} ms all the while`, async () => {
        const payload = body();
        expect(payload.length).toBeLessThanOrEqual(BODY_LIMIT);
        const { result, probes } = await probedWhile(() => send('POST', path, payload, { 'content-type': 'application/json', ...headers }));
        console.log(`${name}, ${how} (${(payload.length / MiB).toFixed(2)} MiB sent): ${result.status} in ${result.ms.toFixed(0)} ms; /healthz ${summary(probes)}`);
        expect(result.status).toBeGreaterThanOrEqual(400);
        expect(result.status).toBeLessThan(500);
        expect(probes.length).toBeGreaterThan(0);
        expect(Math.max(...probes)).toBeLessThan(PROBE_BOUND_MS);
      });
    }
  }
});
