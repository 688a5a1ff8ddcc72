import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bf16, fp16, XentClient, XentError } from '../../src/client/index.js';
import { mulberry32 } from '../random.mjs';
import { startServer, type Running } from '../server/process.js';

/**
 * xent/client against the real server (a process, as users run it): typed arrays in, binary framing on the wire,
 * figures and typed arrays out, refusals as XentErrors. Every figure is compared with what POST /loss answers for the
 * same numbers, bit for bit.
 */

const KEY = 'client-test-key-0123456789abcdef';
let running: Running;
let keyed: Running;
let xent: XentClient;

beforeAll(async () => {
  [running, keyed] = await Promise.all([startServer({ WORKERS: '1' }), startServer({ WORKERS: '1', API_KEYS: KEY })]);
  xent = new XentClient(running.url);
}, 60_000);

afterAll(async () => {
  for (const r of [running, keyed]) r.child.kill('SIGTERM');
  await Promise.all([running.exit, keyed.exit]);
});

/** POST /loss on the same server: the reference answer. */
async function loss(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${running.url}/loss`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** Row-major nesting of a flat array into rows of `c`. */
const rows = (values: ArrayLike<number>, c: number) => Array.from({ length: values.length / c }, (_, i) => Array.from(values).slice(i * c, (i + 1) * c));

describe('xent/client - typed arrays in, figures out, equal to POST /loss', () => {
  it('FP32 logits and INT32 labels - every figure and the FP64 losses equal POST /loss on the float32 values', async () => {
    const logits = Float32Array.of(2, 1, 0.1, 0.5, 2.5, 0.3);
    const result = await xent.score({ shape: [2, 3], logits, labels: Int32Array.of(0, 1), id: 'client-1' });
    const expected = await loss({ logits: rows(logits, 3), labels: [0, 1] });
    expect(result).toMatchObject({
      cost: expected.cost,
      sum: expected.sum,
      count: expected.count,
      totalWeight: expected.total_weight,
      perplexity: expected.perplexity,
      accuracy: expected.accuracy,
      unit: 'nats',
      id: 'client-1',
      lossesShape: [2],
      topClasses: null,
    });
    expect(result.losses).toBeInstanceOf(Float64Array);
    expect(Array.from(result.losses!)).toEqual(expected.losses);
  });

  it('FP64 logits, BigInt64 labels with ignore_index, class weights, smoothing, bits, [N, T, C] - equal POST /loss', async () => {
    const random = mulberry32(7);
    const logits = Float64Array.from({ length: 2 * 3 * 4 }, () => random() * 8 - 4);
    const labels = BigInt64Array.of(0n, 3n, -100n, 2n, 1n, 1n);
    const classWeights = Float64Array.of(1, 2, 0.5, 1.5);
    const parameters = { label_smoothing: 0.1, unit: 'bits' };
    const result = await xent.score({ shape: [2, 3, 4], logits, labels, classWeights, parameters });
    const nested = rows(rows(logits, 4).flat(), 12).map((sample) => rows(sample, 4));
    const expected = await loss({ logits: nested, labels: [[0, 3, -100], [2, 1, 1]], class_weights: Array.from(classWeights), ...parameters });
    expect(result.cost).toBe(expected.cost);
    expect(result.count).toBe(5);
    expect(result.unit).toBe('bits');
    expect(result.lossesShape).toEqual([2, 3]);
    expect(Array.from(result.losses!)).toEqual((expected.losses as number[][]).flat());
  });

  it('FP16 and BF16 bit patterns - equal FP64 of the values they stand for', async () => {
    // 0x4000 = 2, 0x3c00 = 1, 0x2e66 = 0.0999755859375, 0x3800 = 0.5, 0x4100 = 2.5, 0x34cd = 0.300048828125 (binary16)
    const half = await xent.score({ shape: [2, 3], logits: fp16(Uint16Array.of(0x4000, 0x3c00, 0x2e66, 0x3800, 0x4100, 0x34cd)), labels: [0, 1] });
    const exact = await xent.score({ shape: [2, 3], logits: Float64Array.of(2, 1, 0.0999755859375, 0.5, 2.5, 0.300048828125), labels: [0, 1] });
    expect(half).toEqual(exact);
    // bfloat16: the upper half of a float32, 0x4000 = 2, 0x3f80 = 1, 0x3dcd = 0.10009765625, ...
    const brain = await xent.score({ shape: [1, 3], logits: bf16(Uint16Array.of(0x4000, 0x3f80, 0x3dcd)), labels: [0] });
    const brainExact = await xent.score({ shape: [1, 3], logits: [2, 1, 0.10009765625], labels: [0] });
    expect(brain).toEqual(brainExact);
  });

  it('probabilities with soft targets, FP32 losses - the losses as a Float32Array of the FP64 ones rounded', async () => {
    const probabilities = Float64Array.of(0.7, 0.2, 0.1, 0.1, 0.8, 0.1);
    const targets = Float64Array.of(1, 0, 0, 0, 0.9, 0.1);
    const result = await xent.score({ shape: [2, 3], probabilities, targets, losses: 'FP32' });
    const expected = await loss({ probabilities: rows(probabilities, 3), targets: rows(targets, 3) });
    expect(result.losses).toBeInstanceOf(Float32Array);
    expect(Array.from(result.losses!)).toEqual((expected.losses as number[]).map(Math.fround));
    expect(result.cost).toBe(expected.cost);
  });

  it('losses: false and topClasses: 2 - no losses, the two best classes of each sample', async () => {
    const result = await xent.score({ shape: [2, 3], logits: [2, 1, 0.1, 0.5, 2.5, 0.3], labels: [0, 1], losses: false, topClasses: 2 });
    expect(result.losses).toBeNull();
    expect(result.topClasses).toEqual([
      [{ index: 0, value: 2 }, { index: 1, value: 1 }],
      [{ index: 1, value: 2.5 }, { index: 0, value: 0.5 }],
    ]);
  });

  it('every label ignored - cost, perplexity and accuracy null, as POST /loss says', async () => {
    const result = await xent.score({ shape: [1, 2], logits: [1, 2], labels: [-100] });
    expect(result).toMatchObject({ cost: null, perplexity: null, accuracy: null, count: 0, totalWeight: 0 });
  });

  it('a large FP16 batch (64 x 50,257, 6.4 MB: scored in a worker) - the same figures as its exact FP64 values', async () => {
    const random = mulberry32(11);
    const c = 50_257;
    const bits = Uint16Array.from({ length: 64 * c }, () => 0x3000 + Math.floor(random() * 0x1800)); // 0.125 to 4, positive normals
    const labels = Int32Array.from({ length: 64 }, () => Math.floor(random() * c));
    const half = await xent.score({ shape: [64, c], logits: fp16(bits), labels, losses: false });
    const values = Float64Array.from(bits, (h) => (1 + (h & 0x3ff) / 1024) * 2 ** (((h >> 10) & 0x1f) - 15));
    const exact = await xent.score({ shape: [64, c], logits: values, labels, losses: false });
    expect(half).toEqual(exact);
    expect(half.count).toBe(64);
  }, 60_000);
});

describe('xent/client - refusals are XentErrors with the service\'s code', () => {
  it('a label out of range - XentError 400 XENT_LABEL_OUT_OF_RANGE naming /labels/1', async () => {
    const error = await xent.score({ shape: [2, 3], logits: [2, 1, 0.1, 0.5, 2.5, 0.3], labels: [0, 3] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(XentError);
    expect(error).toMatchObject({ status: 400, code: 'XENT_LABEL_OUT_OF_RANGE' });
    expect((error as XentError).message.startsWith('/labels/1: ')).toBe(true);
  });

  it('API keys - without one XENT_UNAUTHORIZED (401); with it, scored', async () => {
    const request = { shape: [1, 2], logits: [1, 2], labels: [0] };
    await expect(new XentClient(keyed.url).score(request)).rejects.toMatchObject({ status: 401, code: 'XENT_UNAUTHORIZED' });
    expect((await new XentClient(keyed.url, { apiKey: KEY }).score(request)).count).toBe(1);
  });

  it('both logits and probabilities - a TypeError before anything is sent', async () => {
    await expect(xent.score({ shape: [1, 2], logits: [1, 2], probabilities: [0.5, 0.5], labels: [0] })).rejects.toThrow(TypeError);
  });

  it('ready() - true once the pool is up', async () => {
    expect(await xent.ready()).toBe(true);
  });
});

describe('the package export', () => {
  it('"xent/client" resolves (package.json exports) to the compiled client, with its types', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const names = execFileSync(process.execPath, ['--input-type=module', '-e', "const m = await import('xent/client'); console.log(Object.keys(m).sort().join(','))"], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(names.trim()).toBe('XentClient,XentError,bf16,fp16');
    const pkg = JSON.parse(execFileSync(process.execPath, ['-p', "JSON.stringify(require('./package.json').exports['./client'])"], { cwd: root, encoding: 'utf8' }));
    expect(pkg).toEqual({ types: './dist/client/index.d.ts', default: './dist/client/index.js' });
    expect(existsSync(new URL('../../dist/client/index.d.ts', import.meta.url))).toBe(true);
  });
});
