/**
 * The model quality counters (README "Model quality in Prometheus"): requests that name their `model` add their
 * running figures, in nats whatever the unit, on both protocols, inline and in a worker, and from a stream once it
 * is accepted (nothing from a refused one); names beyond MAX_MODELS share `model="_other"`; a name outside the grammar is a 400. Expected values are
 * worked out by hand: logits [0, 0] give every sample a loss of ln 2, and ties go to the lowest class.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';

/** The value of one sample in Prometheus text (undefined when the series does not exist). */
function sample(text: string, name: string, labels = ''): number | undefined {
  const prefix = `${name}${labels === '' ? '' : `{${labels}}`} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

const metrics = async (app: FastifyInstance) => (await app.inject({ method: 'GET', url: '/metrics' })).body;
const LN2 = Math.LN2;
const close = (actual: number | undefined, expected: number) => {
  expect(actual).toBeDefined();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(1e-13 * expected);
};

describe('xent_model_* counters', () => {
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

  it('every protocol adds its figures to the model\'s counters, in nats; other requests add nothing', async () => {
    const m = 'model="clf-1.2:a_b"';
    const model = 'clf-1.2:a_b';
    // 2 counted (one ignored), loss 2 ln 2, weight 2, 1 correct (sample 0: the tie goes to class 0).
    expect((await post(app, '/cost', { logits: [[0, 0], [0, 0], [0, 0]], labels: [0, 1, -100], model })).status).toBe(200);
    // Class weights [1, 3] in bits: loss 4 ln 2 nats, weight 4, 2 counted, 1 correct.
    expect((await post(app, '/loss', { logits: [[0, 0], [0, 0]], labels: [0, 1], class_weights: [1, 3], unit: 'bits', model })).status).toBe(200);
    // The inference protocol's parameter: loss ln 2, weight 1, 1 counted, none correct.
    const infer = await post(app, '/v2/models/cross_entropy/infer', {
      parameters: { model },
      inputs: [
        { name: 'logits', shape: [1, 2], datatype: 'FP64', data: [0, 0] },
        { name: 'labels', shape: [1], datatype: 'INT64', data: [1] },
      ],
    });
    expect(infer.status).toBe(200);
    // A stream: each line counts (2 lines, loss 2 ln 2, weight 2, 2 correct).
    const line = JSON.stringify({ logits: [[0, 0]], labels: [0], model });
    const stream = await app.inject({ method: 'POST', url: '/cost/stream', payload: `${line}\n${line}\n`, headers: { 'content-type': 'application/x-ndjson' } });
    expect(stream.statusCode).toBe(200);
    // Not counted: no model, and a refused request.
    await post(app, '/cost', { logits: [[0, 0]], labels: [0] });
    expect((await post(app, '/cost', { logits: [[0, 0]], labels: [5], model })).status).toBe(400);

    const text = await metrics(app);
    close(sample(text, 'xent_model_loss_nats_sum', m), 9 * LN2);
    expect(sample(text, 'xent_model_weight_sum', m)).toBe(9);
    expect(sample(text, 'xent_model_samples_total', m)).toBe(7);
    expect(sample(text, 'xent_model_correct_total', m)).toBe(4);
    expect(sample(text, 'xent_model_overflow_total')).toBe(0);
    expect(text).not.toMatch(/xent_model_\w+\{model="_other"\}/);
  });

  it('soft targets count the target\'s arg-max as correct; target log-probabilities add no correct samples', async () => {
    expect((await post(app, '/cost', { logits: [[0, 0], [1, 0]], targets: [[0.5, 0.5], [0.25, 0.75]], model: 'soft' })).status).toBe(200);
    expect((await post(app, '/cost', { target_log_probs: [[-1, -2]], model: 'lm' })).status).toBe(200);
    const text = await metrics(app);
    // Sample 0: ln 2 (0.5·ln 2 twice), its arg-max 0 is the target's; sample 1: 0.25·ln(1 + e^-1) + 0.75·(1 + ln(1 + e^-1)), wrong.
    close(sample(text, 'xent_model_loss_nats_sum', 'model="soft"'), LN2 + Math.log1p(Math.exp(-1)) + 0.75);
    expect(sample(text, 'xent_model_weight_sum', 'model="soft"')).toBe(2);
    expect(sample(text, 'xent_model_correct_total', 'model="soft"')).toBe(1);
    close(sample(text, 'xent_model_loss_nats_sum', 'model="lm"'), 3);
    expect(sample(text, 'xent_model_samples_total', 'model="lm"')).toBe(2);
    expect(sample(text, 'xent_model_correct_total', 'model="lm"')).toBeUndefined();
  });

  it('a body scored in a worker - counted the same', async () => {
    expect((await post(worker, '/cost', { logits: [[0, 0], [0, 0]], labels: [0, 1], model: 'w' })).status).toBe(200);
    const text = await metrics(worker);
    close(sample(text, 'xent_model_loss_nats_sum', 'model="w"'), 2 * LN2);
    expect(sample(text, 'xent_model_samples_total', 'model="w"')).toBe(2);
    expect(sample(text, 'xent_model_correct_total', 'model="w"')).toBe(1);
  });

  it.each([
    ['has space', '/model'],
    ['', '/model'],
    ['x'.repeat(65), '/model'],
    ['modèle', '/model'],
    ['a/b', '/model'],
  ])('model %j - 400 XENT_INVALID_OPTION at %s, nothing counted', async (model, pointer) => {
    const res = await post(app, '/cost', { logits: [[0, 0]], labels: [0], model });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'XENT_INVALID_OPTION', pointer });
  });

  it('a bad model parameter on the inference protocol - 400', async () => {
    const res = await post(app, '/v2/models/cross_entropy/infer', {
      parameters: { model: 'no spaces please' },
      inputs: [
        { name: 'logits', shape: [1, 2], datatype: 'FP64', data: [0, 0] },
        { name: 'labels', shape: [1], datatype: 'INT64', data: [1] },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('XENT_INVALID_OPTION');
  });
});

describe('MAX_MODELS', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp({ maxModels: 1 });
  });
  afterAll(async () => {
    await app.close();
  });

  it('MAX_MODELS=1 - the first name keeps its label, later ones count under _other, each such request counted', async () => {
    const score = (model: string) => post(app, '/cost', { logits: [[0, 0]], labels: [0], model });
    for (const model of ['first', 'second', 'third', 'first', 'second']) expect((await score(model)).status).toBe(200);
    const text = await metrics(app);
    expect(sample(text, 'xent_model_samples_total', 'model="first"')).toBe(2);
    expect(sample(text, 'xent_model_samples_total', 'model="_other"')).toBe(3);
    close(sample(text, 'xent_model_loss_nats_sum', 'model="_other"'), 3 * LN2);
    expect(sample(text, 'xent_model_overflow_total')).toBe(3);
    expect(text).not.toMatch(/model="(second|third)"/);
  });

  it('a stream naming a model past MAX_MODELS - its lines counted under _other, the overflow once for the stream', async () => {
    const before = sample(await metrics(app), 'xent_model_overflow_total')!;
    const line = JSON.stringify({ logits: [[0, 0]], labels: [0], model: 'fourth' });
    const res = await app.inject({ method: 'POST', url: '/cost/stream', payload: `${line}\n${line}\n${line}\n`, headers: { 'content-type': 'application/x-ndjson' } });
    expect(res.statusCode).toBe(200);
    const text = await metrics(app);
    expect(sample(text, 'xent_model_samples_total', 'model="_other"')).toBe(6);
    expect(sample(text, 'xent_model_overflow_total')).toBe(before + 1);
  });
});

describe('a refused stream', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(async () => {
    await app.close();
  });

  it.each([
    ['a bad line', '{"logits": [[0, 0]], "labels": [9], "model": "m"}', 400],
    ['a line with other options', '{"logits": [[0, 0]], "labels": [1], "model": "m", "unit": "bits"}', 400],
  ])('%s after accepted lines - nothing of the stream reaches the model counters', async (_what, last, status) => {
    const good = JSON.stringify({ logits: [[0, 0], [0, 0]], labels: [0, 1], model: 'm' });
    for (const accept of ['application/json', 'application/x-ndjson']) {
      const res = await app.inject({ method: 'POST', url: '/cost/stream', payload: `${good}\n${good}\n${last}\n`, headers: { 'content-type': 'application/x-ndjson', accept } });
      expect(res.statusCode).toBe(accept === 'application/json' ? status : 200);
    }
    const text = await metrics(app);
    expect(text).not.toMatch(/xent_model_\w+\{model="m"\}/);
    // The same lines, accepted: 4 samples (2 lines of 2), 2 ln 2 each line.
    const res = await app.inject({ method: 'POST', url: '/cost/stream', payload: `${good}\n${good}\n`, headers: { 'content-type': 'application/x-ndjson' } });
    expect(res.statusCode).toBe(200);
    const after = await metrics(app);
    expect(sample(after, 'xent_model_samples_total', 'model="m"')).toBe(4);
    close(sample(after, 'xent_model_loss_nats_sum', 'model="m"'), 4 * LN2);
    await app.close();
    app = await buildTestApp();
  });
});
