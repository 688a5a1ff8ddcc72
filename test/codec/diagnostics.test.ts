/**
 * Evaluation beyond one number (issue "diagnostics"), through the service on both protocols: each figure checked
 * against a value derived independently (by hand, from the identities the issue names, or from the 50-digit
 * reference), and the mergeable state: any split of a batch, merged, equals one request over all of it.
 */
import type { FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';
import { binaryRequest, fp64, infer } from '../oip/wire.js';
import { mulberry32 } from '../random.mjs';
import { D, exact, referenceCrossEntropy } from '../reference/highPrecision.mjs';

let app: FastifyInstance;
let worker: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
  worker = await buildTestApp({ inlineMaxBytes: 0 });
});
afterAll(async () => {
  await app.close();
  await worker.close();
});

const ALL = ['probability', 'rank', 'top_k', 'entropy', 'kl', 'brier', 'calibration'];
const LOSS_FIELDS = ['sum', 'cost', 'count', 'total_weight', 'perplexity', 'accuracy', 'unit'] as const;
const relative = (got: number, want: number) => (want === 0 ? Math.abs(got) : Math.abs(got - want) / Math.abs(want));

/** softmax of a row in 50 digits. */
function softmax(row: number[]) {
  const m = Math.max(...row);
  const e = row.map((z) => exact(z).minus(m).exp());
  const total = e.reduce((a, b) => a.plus(b), new D(0));
  return e.map((x) => x.div(total));
}

describe('diagnostics - by hand and from the reference', () => {
  const body = { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3], [1, 1, 0]], labels: [0, 2, 1] };

  it('probability, rank, entropy and Brier of each sample, and their means', async () => {
    const res = await post(app, '/loss', { ...body, include: ['probability', 'rank', 'entropy', 'brier'] });
    expect(res.status).toBe(200);
    const b = res.body as { probability: number[]; entropy: number[]; brier: number[]; rank: number[]; mean_reciprocal_rank: number; mean_probability: number; mean_brier: number };
    body.logits.forEach((row, i) => {
      const q = softmax(row);
      const y = body.labels[i]!;
      expect(relative(b.probability[i]!, q[y]!.toNumber())).toBeLessThan(1e-14);
      const entropy = q.reduce((s, x) => s.minus(x.mul(x.ln())), new D(0));
      expect(relative(b.entropy[i]!, entropy.toNumber())).toBeLessThan(1e-13);
      const brier = q.reduce((s, x, c) => s.plus(x.minus(c === y ? 1 : 0).pow(2)), new D(0));
      expect(relative(b.brier[i]!, brier.toNumber())).toBeLessThan(1e-13);
    });
    // ranks by hand: sample 0's label is the arg-max (1); sample 1's label (0.3) has 0.5 and 2.5 above it (3);
    // sample 2's label ties the maximum (1): nothing is strictly greater.
    expect(b.rank).toEqual([1, 3, 1]);
    expect(b.mean_reciprocal_rank).toBe(7 / 9); // (1 + 1/3 + 1) / 3, rounded once
    expect(relative(b.mean_probability, b.probability.reduce((s, x) => s + x, 0) / 3)).toBeLessThan(1e-15);
    expect(b.mean_brier).toBeDefined(); // in /loss, `brier` is per sample and the mean is mean_brier
    const cost = await post(app, '/cost', { ...body, include: ['brier'] });
    expect(cost.body.brier).toBe(b.mean_brier);
  });

  it('top_k_accuracy: the share of samples ranked within k; k = 1 includes the tie that accuracy breaks by index', async () => {
    const res = await post(app, '/cost', { ...body, include: ['top_k', 'rank'], top_k: [1, 2, 3] });
    // ranks 1, 3, 1: within 1: 2 of 3; within 2: 2 of 3; within 3: 3 of 3
    expect(res.body.top_k_accuracy).toEqual({ 1: 2 / 3, 2: 2 / 3, 3: 1 });
    // accuracy takes the lowest index on the tie of sample 2 (class 0, not the label 1): 1 of 3
    expect(res.body.accuracy).toBe(1 / 3);
  });

  it('calibration: a hand-computed table of 3 bins', async () => {
    // confidences (the largest probability): 0.9, 0.8, 0.5, 0.3, each for class 0; labels 0, 1, 0, 0: correct, wrong,
    // correct, correct
    const probabilities = [[0.9, 0.1, 0, 0], [0.8, 0.2, 0, 0], [0.5, 0.25, 0.25, 0], [0.3, 0.25, 0.25, 0.2]];
    const res = await post(app, '/cost', { probabilities, labels: [0, 1, 0, 0], include: ['calibration'], calibration_bins: 3 });
    const { bins, ece, mce } = res.body.calibration as { bins: Record<string, number | null>[]; ece: number; mce: number };
    // bins (0, 1/3], (1/3, 2/3], (2/3, 1]: 0.3 → bin 0 (correct), 0.5 → bin 1 (correct), 0.8 and 0.9 → bin 2 (one correct)
    expect(bins.map((b) => b.count)).toEqual([1, 1, 2]);
    expect(bins.map((b) => b.accuracy)).toEqual([1, 1, 0.5]);
    expect(bins[2]!.confidence).toBeCloseTo(0.85, 15);
    expect(bins[0]!.lower).toBe(0);
    expect(bins[2]!.upper).toBe(1);
    // ece = (1/4)|1 − 0.3| + (1/4)|1 − 0.5| + (2/4)|0.5 − 0.85| = 0.175 + 0.125 + 0.175 = 0.475; mce = 0.7
    expect(bins.map((b) => b.confidence)).toEqual([0.3, 0.5, expect.closeTo(0.85, 15)]);
    expect(ece).toBeCloseTo(0.475, 14);
    expect(mce).toBeCloseTo(0.7, 14);
  });

  it('ECE is 0 for a model whose confidence equals its accuracy in each bin; empty bins have null figures', async () => {
    const p = [0.75, 0.25];
    const res = await post(app, '/cost', { probabilities: [p, p, p, p], labels: [0, 0, 0, 1], include: ['calibration'] });
    const calibration = res.body.calibration as { bins: { count: number; confidence: number | null }[]; ece: number };
    expect(calibration.ece).toBe(0);
    expect(calibration.bins.filter((b) => b.count === 0).every((b) => b.confidence === null)).toBe(true);
    expect(calibration.bins).toHaveLength(15);
  });

  it('Brier of a perfect one-hot prediction is 0, of a uniform one over C classes 1 − 1/C', async () => {
    const perfect = await post(app, '/cost', { probabilities: [[0, 1, 0], [1, 0, 0]], labels: [1, 0], include: ['brier'] });
    expect(perfect.body.brier).toBe(0);
    const uniform = await post(app, '/cost', { probabilities: [[0.25, 0.25, 0.25, 0.25]], labels: [3], include: ['brier'] });
    expect(uniform.body.brier).toBe(0.75);
  });

  it('CE = H(t′) + KL(t′‖q) per sample without class weights, label smoothing and soft targets', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.constantFrom(0, 0.1, 0.5), fc.boolean(), async (seed, smoothing, soft) => {
        const random = mulberry32(seed);
        const n = 4;
        const c = 5;
        const logits = Array.from({ length: n }, () => Array.from({ length: c }, () => (random() - 0.5) * 8));
        const truth = soft
          ? { targets: logits.map(() => { const t = Array.from({ length: c }, () => random()); const s = t.reduce((a, b) => a + b); return t.map((x) => x / s); }) }
          : { labels: logits.map(() => Math.floor(random() * c)) };
        const res = await post(app, '/loss', { logits, ...truth, label_smoothing: smoothing, include: ['kl'] });
        expect(res.status).toBe(200);
        const losses = res.body.losses as number[];
        const kl = res.body.kl as number[];
        logits.forEach((_, i) => {
          const t = soft ? (truth as { targets: number[][] }).targets[i]! : Array.from({ length: c }, (__, k) => (k === (truth as { labels: number[] }).labels[i] ? 1 : 0));
          const tp = t.map((x) => exact(x).mul(1 - smoothing).plus(new D(smoothing).div(c)));
          const h = tp.reduce((s, x) => (x.isZero() ? s : s.minus(x.mul(x.ln()))), new D(0));
          expect(Math.abs(losses[i]! - (h.toNumber() + kl[i]!))).toBeLessThan(1e-12 * Math.max(1, losses[i]!));
        });
      }),
      { numRuns: 25 },
    );
  });

  it('include never changes a loss figure by a single bit, inline or in a worker', async () => {
    const random = mulberry32(99);
    const logits = Array.from({ length: 6 }, () => Array.from({ length: 7 }, () => (random() - 0.5) * 10));
    const request = { logits, labels: [0, 1, 2, 3, 4, -100], label_smoothing: 0.1, class_weights: [1, 2, 3, 1, 2, 3, 1] };
    const plain = await post(app, '/loss', request);
    for (const target of [app, worker]) {
      const full = await post(target, '/loss', { ...request, include: [...ALL, 'state'] });
      expect(full.body.losses).toEqual(plain.body.losses);
      for (const field of LOSS_FIELDS) expect(Object.is(full.body[field], plain.body[field])).toBe(true);
      expect((full.body.probability as (number | null)[])[5]).toBeNull(); // the ignored sample
    }
  });

  it('batch figures do not depend on the order of the samples', async () => {
    const random = mulberry32(5);
    const logits = Array.from({ length: 9 }, () => Array.from({ length: 4 }, () => (random() - 0.5) * 6));
    const labels = logits.map(() => Math.floor(random() * 4));
    const order = [3, 7, 0, 5, 8, 1, 2, 6, 4];
    const a = await post(app, '/cost', { logits, labels, include: ALL });
    const b = await post(app, '/cost', { logits: order.map((i) => logits[i]), labels: order.map((i) => labels[i]), include: ALL });
    for (const key of ['mean_probability', 'mean_reciprocal_rank', 'mean_entropy', 'mean_kl', 'brier']) {
      expect(relative(b.body[key] as number, a.body[key] as number)).toBeLessThan(1e-15);
    }
    expect(b.body.top_k_accuracy).toEqual(a.body.top_k_accuracy);
    expect((b.body.calibration as { bins: unknown[] }).bins.map((x) => (x as { count: number }).count)).toEqual(
      (a.body.calibration as { bins: unknown[] }).bins.map((x) => (x as { count: number }).count),
    );
  });

  it('bad diagnostics options - a 400 with a pointer', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ include: ['entropy', 'perplexity'] }, 'XENT_INVALID_OPTION', '/include/1'],
      [{ include: ['kl', 'kl'] }, 'XENT_INVALID_OPTION', '/include/1'],
      [{ include: ['top_k'], top_k: [0] }, 'XENT_INVALID_OPTION', '/top_k'],
      [{ include: ['top_k'], top_k: [1.5] }, 'XENT_INVALID_OPTION', '/top_k'],
      [{ top_k: [2] }, 'XENT_INVALID_OPTION', '/top_k'],
      [{ include: ['calibration'], calibration_bins: 0 }, 'XENT_INVALID_OPTION', '/calibration_bins'],
      [{ include: ['calibration'], calibration_bins: 101 }, 'XENT_INVALID_OPTION', '/calibration_bins'],
      [{ include: ['sequences'] }, 'XENT_INVALID_OPTION', '/include'],
      [{ bytes: [1, 2] }, 'XENT_INVALID_SHAPE', '/bytes'],
      [{ bytes: [1, -2, 3] }, 'XENT_INVALID_NUMBER', '/bytes/1'],
    ];
    for (const [extra, code, pointer] of cases) {
      const res = await post(app, '/cost', { ...body, ...extra });
      expect([res.status, res.body.code, res.body.pointer], JSON.stringify(extra)).toEqual([400, code, pointer]);
    }
    const unknown = await post(app, '/cost', { ...body, include: ['perplexity'] });
    expect(unknown.body.detail).toMatch(/probability, rank, top_k, entropy, kl, brier, calibration, sequences, state/);
  });
});

describe('sequences and language-model figures', () => {
  // 2 sequences of 3 tokens over 4 classes, one token ignored
  const random = mulberry32(3);
  const logits = Array.from({ length: 2 }, () => Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => (random() - 0.5) * 6)));
  const labels = [[0, 3, -100], [2, 2, 1]];

  it('each sequence\'s figures equal /cost over that sequence alone; the corpus perplexity stays token-weighted', async () => {
    const res = await post(app, '/cost', { logits, labels, include: ['sequences'], bytes: [10, 14], words: [2, 3] });
    expect(res.status).toBe(200);
    const sequences = res.body.sequences as Record<string, number>[];
    for (let i = 0; i < 2; i++) {
      const alone = await post(app, '/cost', { logits: logits[i], labels: labels[i] });
      expect(sequences[i]).toMatchObject({ sum: alone.body.sum, count: alone.body.count, total_weight: alone.body.total_weight, cost: alone.body.cost, perplexity: alone.body.perplexity });
    }
    expect(relative(res.body.mean_sequence_perplexity as number, (sequences[0]!.perplexity! + sequences[1]!.perplexity!) / 2)).toBeLessThan(1e-15);
    // from the exact sums, never from means: the batch sum in bits over all bytes
    const bits = await post(app, '/cost', { logits, labels, unit: 'bits' });
    expect(relative(res.body.bits_per_byte as number, (bits.body.sum as number) / 24)).toBeLessThan(1e-15);
    expect(relative(res.body.byte_perplexity as number, 2 ** (res.body.bits_per_byte as number))).toBeLessThan(1e-14);
    expect(relative(res.body.word_perplexity as number, Math.exp((res.body.sum as number) / 5))).toBeLessThan(1e-14);
    expect(relative(sequences[0]!.bits_per_byte!, sequences[0]!.sum! / Math.LN2 / 10)).toBeLessThan(1e-15);
  });

  it('target_log_probs: the losses of the probabilities they come from; a mask in place of ignore_index', async () => {
    const p = [[0.5, 0.25, 0.25], [0.125, 0.75, 0.125]];
    const viaProbabilities = await post(app, '/loss', { probabilities: p, labels: [1, 1] });
    const viaLogProbs = await post(app, '/loss', { target_log_probs: [Math.log(0.25), Math.log(0.75)] });
    expect(viaLogProbs.body.losses).toEqual(viaProbabilities.body.losses);
    expect(viaLogProbs.body).toMatchObject({ sum: viaProbabilities.body.sum, cost: viaProbabilities.body.cost, accuracy: null });
    const masked = await post(app, '/cost', { target_log_probs: [[-1, -2, -3]], mask: [[1, 0, 1]], include: ['sequences', 'probability'] });
    expect(masked.body).toMatchObject({ sum: 4, count: 2, total_weight: 2, cost: 2 });
    expect(relative(masked.body.mean_probability as number, (Math.exp(-1) + Math.exp(-3)) / 2)).toBeLessThan(1e-15);
    const ref = referenceCrossEntropy({ kind: 'probabilities', input: p, labels: [1, 1] });
    expect(relative((viaLogProbs.body.losses as number[])[1]!, ref.losses[1]!.toNumber())).toBeLessThan(1e-15);
  });

  it('target_log_probs refuse what needs the class distribution, and bad values', async () => {
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ target_log_probs: [-1, 0.5] }, 400, 'XENT_LOG_PROBABILITY_POSITIVE', '/target_log_probs/1'],
      [{ target_log_probs: [-1, -2], mask: [1, 2] }, 400, 'XENT_INVALID_MASK', '/mask/1'],
      [{ target_log_probs: [-1, -2], mask: [1] }, 400, 'XENT_INVALID_SHAPE', '/mask'],
      [{ target_log_probs: [-1], labels: [0] }, 400, 'XENT_CONFLICTING_FIELDS', '/labels'],
      [{ target_log_probs: [-1], class_weights: [1] }, 400, 'XENT_INVALID_OPTION', '/class_weights'],
      [{ target_log_probs: [-1], label_smoothing: 0.1 }, 400, 'XENT_INVALID_OPTION', '/label_smoothing'],
      [{ target_log_probs: [-1], include: ['entropy'] }, 400, 'XENT_INVALID_OPTION', '/include/0'],
      [{ logits: [[0, 1]], labels: [0], mask: [1] }, 400, 'XENT_INVALID_OPTION', '/mask'],
    ];
    for (const [body, status, code, pointer] of cases) {
      const res = await post(app, '/cost', body);
      expect([res.status, res.body.code, res.body.pointer], JSON.stringify(body)).toEqual([status, code, pointer]);
    }
    // −Infinity (a true token of probability 0) cannot be written in JSON; binary FP64 carries it: an infinite loss.
    const infinite = await infer(app, binaryRequest({ inputs: [{ name: 'target_log_probs', shape: [2], datatype: 'FP64', parameters: { binary_data_size: 16 } }] }, [fp64([-1, -Infinity])]));
    expect(infinite.status).toBe(422);
    expect(infinite.code).toBe('XENT_NON_FINITE_RESULT');
    expect(infinite.error).toMatch(/^\/target_log_probs\/1: /);
  });
});

describe('the inference protocol speaks the same figures', () => {
  it('include as a parameter: per-sample and batch outputs under the JSON names, the state as BYTES', async () => {
    const json = await post(app, '/loss', { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1], include: ['entropy', 'brier', 'state'] });
    const oip = await infer(app, {
      parameters: { include: 'entropy,brier,state' },
      inputs: [
        { name: 'logits', shape: [2, 3], datatype: 'FP64', data: [2, 1, 0.1, 0.5, 2.5, 0.3] },
        { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] },
      ],
    });
    expect(oip.status).toBe(200);
    expect(oip.outputs.get('entropy')!.values).toEqual(json.body.entropy);
    expect(oip.outputs.get('mean_entropy')!.values).toEqual([json.body.mean_entropy]);
    expect(oip.outputs.get('mean_brier')!.values).toEqual([json.body.mean_brier]);
    const state = JSON.parse((oip.json.outputs as { name: string; data: string[] }[]).find((o) => o.name === 'state')!.data[0]!);
    expect(state).toEqual(json.body.state);
  });

  it('an output that the request does not compute is a 400 naming it', async () => {
    const res = await infer(app, {
      inputs: [
        { name: 'logits', shape: [1, 2], datatype: 'FP64', data: [0, 1] },
        { name: 'labels', shape: [1], datatype: 'INT64', data: [0] },
      ],
      outputs: [{ name: 'entropy' }],
    });
    expect(res.code).toBe('XENT_INVALID_OPTION');
    expect(res.error).toMatch(/^\/outputs\/0\/name: /);
  });
});

describe('mergeable state and POST /merge', () => {
  const random = mulberry32(11);
  const n = 24;
  const logits = Array.from({ length: n }, () => Array.from({ length: 5 }, () => (random() - 0.5) * 10));
  const labels = logits.map((_, i) => (i % 7 === 6 ? -100 : Math.floor(random() * 5)));
  const options = { label_smoothing: 0.05, class_weights: [1, 0.5, 2, 1, 1.5], include: [...ALL, 'state'] };

  it('any split, merged in any order, gives the one-request figures within 2 ulp', async () => {
    const whole = await post(app, '/cost', { logits, labels, ...options });
    expect(whole.status).toBe(200);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: n - 1 }), { maxLength: 5 }), fc.integer(), async (cuts, seed) => {
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), n];
        const states = [];
        for (let i = 0; i + 1 < bounds.length; i++) {
          const part = await post(app, '/cost', { logits: logits.slice(bounds[i], bounds[i + 1]), labels: labels.slice(bounds[i], bounds[i + 1]), ...options });
          states.push(part.body.state);
        }
        const shuffle = mulberry32(seed);
        states.sort(() => shuffle() - 0.5);
        const merged = await post(app, '/merge', { states });
        expect(merged.status).toBe(200);
        const ulps = (a: number, b: number) => Math.abs(a - b) / (Number.EPSILON * Math.abs(b) || Number.MIN_VALUE);
        for (const key of ['sum', 'cost', 'perplexity', 'mean_probability', 'mean_reciprocal_rank', 'mean_entropy', 'mean_kl', 'brier']) {
          expect(ulps(merged.body[key] as number, whole.body[key] as number), key).toBeLessThanOrEqual(2);
        }
        for (const key of ['count', 'total_weight', 'accuracy', 'top_k_accuracy']) expect(merged.body[key], key).toEqual(whole.body[key]);
        expect(merged.body.calibration).toEqual(whole.body.calibration);
      }),
      { numRuns: 12 },
    );
  });

  it('states of different options are a 400 naming the first that disagrees; altered ones a 400, never a number', async () => {
    const a = (await post(app, '/cost', { logits: logits.slice(0, 3), labels: labels.slice(0, 3), ...options })).body.state as Record<string, unknown>;
    const bits = (await post(app, '/cost', { logits: logits.slice(3, 6), labels: labels.slice(3, 6), ...options, unit: 'bits' })).body.state;
    const mismatch = await post(app, '/merge', { states: [a, a, bits] });
    expect(mismatch.body).toMatchObject({ code: 'XENT_STATE_MISMATCH', pointer: '/states/2/options/unit' });
    const negative = structuredClone(a) as { loss: { count: number } };
    negative.loss.count = -1;
    expect((await post(app, '/merge', { states: [a, negative] })).body).toMatchObject({ code: 'XENT_INVALID_STATE', pointer: '/states/1/loss/count' });
    const infinite = JSON.parse(JSON.stringify(a).replace(/"sum":\[[^\]]*\]/, '"sum":[1e400,0]'));
    expect((await post(app, '/merge', { states: [infinite] })).body.code).toBe('XENT_INVALID_STATE');
    expect((await post(app, '/merge', { states: [{ ...a, v: 2 }] })).body).toMatchObject({ code: 'XENT_INVALID_STATE', pointer: '/states/0/v' });
    expect((await post(app, '/merge', { states: [] })).body.code).toBe('XENT_INVALID_STATE');
  });
});
