/**
 * POST /cost/stream: a dataset as NDJSON lines, merged exactly: the answer equals one /cost over all the lines'
 * samples; problems name their line and the place inside it; progress streams with Accept: application/x-ndjson.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post } from '../helper.js';
import { mulberry32 } from '../random.mjs';

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

const random = mulberry32(42);
const batches = Array.from({ length: 7 }, (_, b) => {
  const n = 1 + (b % 4);
  return {
    logits: Array.from({ length: n }, () => Array.from({ length: 6 }, () => (random() - 0.5) * 8)),
    labels: Array.from({ length: n }, () => Math.floor(random() * 6)),
  };
});
const options = { label_smoothing: 0.1, include: ['entropy', 'calibration', 'state'] };
const stream = (lines: string[], accept = 'application/json') => ({
  method: 'POST' as const,
  url: '/cost/stream',
  payload: lines.join('\n'),
  headers: { 'content-type': 'application/x-ndjson', accept },
});

describe('POST /cost/stream', () => {
  it('the figures of every line as one /cost request, inline and in a worker; blank lines and CRLF are fine', async () => {
    const whole = await post(app, '/cost', { logits: batches.flatMap((b) => b.logits), labels: batches.flatMap((b) => b.labels), ...options });
    const lines = batches.map((b) => JSON.stringify({ ...b, ...options }));
    lines.splice(3, 0, '', '  ');
    for (const target of [app, worker]) {
      const res = await target.inject(stream(lines.map((l, i) => (i === 1 ? `${l}\r` : l))));
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.count).toBe(whole.body.count);
      expect(body.total_weight).toBe(whole.body.total_weight);
      for (const key of ['sum', 'cost', 'perplexity', 'mean_entropy']) {
        expect(Math.abs(body[key] - (whole.body[key] as number)) / Math.abs(whole.body[key] as number), key).toBeLessThanOrEqual(2 * Number.EPSILON);
      }
      expect(body.calibration).toEqual(whole.body.calibration);
      expect(body.state.loss.count).toBe(whole.body.count);
    }
  });

  it('Accept: application/x-ndjson - the answer streams, ending in a result line', async () => {
    const res = await app.inject(stream(batches.map((b) => JSON.stringify(b)), 'application/x-ndjson'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = res.body.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toHaveProperty('result.cost');
    for (const l of lines.slice(0, -1)) expect(Object.keys(l)).toEqual(['progress']);
  });

  it('a bad line - 400 naming the line and the place inside it; nothing counted', async () => {
    const lines = batches.slice(0, 3).map((b) => JSON.stringify(b));
    lines.push('{"logits": [[0, 1]], "labels": [7]}');
    const res = await app.inject(stream(lines));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'XENT_LABEL_OUT_OF_RANGE', line: 4, pointer: '/labels/0' });
    const notJson = await app.inject(stream([lines[0]!, '{"logits": [[0, 1]]']));
    expect(notJson.json()).toMatchObject({ code: 'XENT_INVALID_JSON', line: 2 });
  });

  it('a line whose options differ from the first line\'s - 400 naming the line', async () => {
    const res = await app.inject(stream([JSON.stringify(batches[0]), JSON.stringify({ ...batches[1], unit: 'bits' })]));
    expect(res.json()).toMatchObject({ code: 'XENT_STATE_MISMATCH', line: 2, pointer: '/unit' });
  });

  it('a line with another input form, or other sequence figures - 400 at the line itself, not at a state\'s place', async () => {
    const form = await app.inject(stream([JSON.stringify(batches[0]), JSON.stringify({ target_log_probs: [[-1, -2]] })]));
    expect(form.statusCode).toBe(400);
    // The whole line is the place: no top-level pointer, and the is the line's root.
    expect(form.json()).toMatchObject({ code: 'XENT_STATE_MISMATCH', line: 2, errors: [{ pointer: '' }] });
    expect(form.json()).not.toHaveProperty('pointer');
    expect(form.json().detail).toContain('input form');
    const lm = (extra: object) => JSON.stringify({ logits: [[[0, 1], [1, 0]]], labels: [[0, 1]], include: ['sequences'], ...extra });
    const sequences = await app.inject(stream([lm({ bytes: [5] }), lm({})]));
    expect(sequences.statusCode).toBe(400);
    expect(sequences.json()).toMatchObject({ code: 'XENT_STATE_MISMATCH', line: 2, errors: [{ pointer: '' }] });
    expect(sequences.json().detail).toContain('sequence figures');
  });

  it('an error mid-stream with Accept: application/x-ndjson - a final error line with the line number', async () => {
    const res = await app.inject(stream([JSON.stringify(batches[0]), '{"logits": 5, "labels": [0]}'], 'application/x-ndjson'));
    const last = JSON.parse(res.body.trim().split('\n').at(-1)!);
    expect(last.error).toMatchObject({ code: 'XENT_INVALID_SHAPE', line: 2, pointer: '/logits' });
  });

  it('a line longer than BODY_LIMIT - 413 naming it; an empty stream - 400', async () => {
    const small = await buildTestApp({ bodyLimit: 2048 });
    try {
      const res = await small.inject(stream([JSON.stringify(batches[0]), `{"logits": [[${'0,'.repeat(2000)}0]], "labels": [0]}`]));
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ code: 'XENT_BODY_TOO_LARGE', line: 2 });
    } finally {
      await small.close();
    }
    expect((await app.inject(stream(['', '']))).json().code).toBe('XENT_INVALID_BODY');
  });
});
