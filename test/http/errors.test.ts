import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/codec/problems.js';
import { buildTestApp } from '../helper.js';

interface Case {
  name: string;
  /** A JSON value (sent as JSON) or a raw string. */
  body?: unknown;
  raw?: string;
  contentType?: string;
  url?: string;
  method?: 'GET' | 'POST';
  app?: 'default' | 'small';
  status: number;
  code: ErrorCode;
  /** JSON pointer of the first issue; undefined when it concerns the whole body. */
  pointer?: string;
}

const ok = { logits: [[0, 1, 2], [2, 1, 0]], labels: [0, 2] };

/** The catalogue of bad requests: one or more per error code, each with its precise status, code and pointer. */
const CASES: Case[] = [
  { name: 'truncated JSON', raw: '{"logits": [[1, 2]', status: 400, code: 'XENT_INVALID_JSON' },
  { name: 'empty body', raw: '', status: 400, code: 'XENT_INVALID_JSON' },
  { name: 'NaN literal - named at its place', raw: '{"logits": [[NaN, 1]], "labels": [0]}', status: 400, code: 'XENT_INVALID_JSON', pointer: '/logits/0/0' },
  { name: 'body is an array', body: [1, 2], status: 400, code: 'XENT_INVALID_BODY' },
  { name: 'body is null', raw: 'null', status: 400, code: 'XENT_INVALID_BODY' },
  { name: 'typo in a field name', body: { ...ok, label_smooting: 0.1 }, status: 400, code: 'XENT_UNKNOWN_FIELD', pointer: '/label_smooting' },
  { name: 'key with a slash is escaped', body: { ...ok, 'a/b~': 1 }, status: 400, code: 'XENT_UNKNOWN_FIELD', pointer: '/a~1b~0' },
  { name: '__proto__ key', raw: '{"__proto__": {"polluted": 1}, "logits": [[0, 1]], "labels": [0]}', status: 400, code: 'XENT_FORBIDDEN_KEY', pointer: '/__proto__' },
  { name: 'constructor key', raw: '{"constructor": {"prototype": {}}, "logits": [[0, 1]], "labels": [0]}', status: 400, code: 'XENT_FORBIDDEN_KEY', pointer: '/constructor' },
  { name: 'logits given twice', raw: '{"logits": [[0, 1]], "labels": [0], "logits": [[1, 0]]}', status: 400, code: 'XENT_DUPLICATE_FIELD', pointer: '/logits' },
  { name: 'an option given twice', raw: '{"logits": [[0, 1]], "labels": [0], "unit": "bits", "unit": "nats"}', status: 400, code: 'XENT_DUPLICATE_FIELD', pointer: '/unit' },
  { name: 'a key twice in a nested object', raw: '{"logits": [[0, 1]], "labels": [0], "unit": {"a": 1, "a": 2}}', status: 400, code: 'XENT_DUPLICATE_FIELD', pointer: '/unit/a' },
  { name: 'no input', body: { labels: [0] }, status: 400, code: 'XENT_MISSING_FIELD' },
  { name: 'a positive target log-probability', body: { target_log_probs: [-1, 0.5] }, status: 400, code: 'XENT_LOG_PROBABILITY_POSITIVE', pointer: '/target_log_probs/1' },
  { name: 'a mask value other than 0 or 1', body: { target_log_probs: [-1, -2], mask: [1, 2] }, status: 400, code: 'XENT_INVALID_MASK', pointer: '/mask/1' },
  { name: 'no truth', body: { logits: [[0, 1]] }, status: 400, code: 'XENT_MISSING_FIELD' },
  { name: 'logits and probabilities', body: { ...ok, probabilities: [[0.5, 0.5]] }, status: 400, code: 'XENT_CONFLICTING_FIELDS', pointer: '/probabilities' },
  { name: 'labels and targets', body: { ...ok, targets: [[1, 0, 0], [0, 0, 1]] }, status: 400, code: 'XENT_CONFLICTING_FIELDS', pointer: '/targets' },
  { name: 'label_smoothing above 1', body: { ...ok, label_smoothing: 1.5 }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/label_smoothing' },
  { name: 'label_smoothing negative', body: { ...ok, label_smoothing: -0.1 }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/label_smoothing' },
  { name: 'label_smoothing as a string', body: { ...ok, label_smoothing: '0.1' }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/label_smoothing' },
  { name: 'unknown unit', body: { ...ok, unit: 'hartleys' }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/unit' },
  { name: 'fractional ignore_index', body: { ...ok, ignore_index: 1.5 }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/ignore_index' },
  { name: 'epsilon with logits', body: { ...ok, epsilon: 1e-7 }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/epsilon' },
  { name: 'epsilon above 0.5', body: { probabilities: [[0.5, 0.5]], labels: [0], epsilon: 0.7 }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/epsilon' },
  { name: 'ignore_index with targets', body: { logits: [[0, 1]], targets: [[0, 1]], ignore_index: -100 }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/ignore_index' },
  { name: 'ragged rows', body: { logits: [[0, 1, 2], [0, 1]], labels: [0, 0] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/logits/1' },
  { name: 'ragged 3-D', body: { logits: [[[0, 1], [0, 1]], [[0, 1]]], labels: [[0, 0], [0]] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/logits/1' },
  { name: 'flat logits', body: { logits: [0, 1, 2], labels: 0 }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/logits' },
  { name: 'logits not an array', body: { logits: 'x', labels: [0] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/logits' },
  { name: 'fewer labels than samples', body: { logits: [[0, 1], [1, 0]], labels: [0] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/labels' },
  { name: 'labels as a column, [[0], [1]] - told to flatten them', body: { logits: [[0, 1], [1, 0]], labels: [[0], [1]] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/labels' },
  { name: 'labels as one-hot rows - told to send targets', body: { logits: [[0, 1], [1, 0]], labels: [[0, 1], [1, 0]] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/labels' },
  { name: 'class indices as targets - told to send labels', body: { logits: [[0, 1], [1, 0]], targets: [1, 0] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/targets' },
  { name: 'PyTorch layout [N][C][T] without class_dim - told to send class_dim', body: { logits: [[[0, 1, 2], [1, 0, 2]]], labels: [[0, 1, 1]] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/labels' },
  { name: 'class_dim beyond the input', body: { ...ok, class_dim: 2 }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/class_dim' },
  { name: 'renormalize with logits', body: { ...ok, renormalize: true }, status: 400, code: 'XENT_INVALID_OPTION', pointer: '/renormalize' },
  { name: 'a negative sample weight', body: { ...ok, sample_weights: [1, -1] }, status: 400, code: 'XENT_NEGATIVE_WEIGHT', pointer: '/sample_weights/1' },
  { name: 'sample weights of the wrong length', body: { ...ok, sample_weights: [1] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/sample_weights' },
  { name: '3-D labels row too short', body: { logits: [[[0, 1], [0, 1]], [[0, 1], [0, 1]]], labels: [[0, 1], [0]] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/labels/1' },
  { name: 'targets of another shape', body: { logits: [[0, 1], [1, 0]], targets: [[0, 1, 0], [1, 0]] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/targets/0' },
  { name: 'class_weights of the wrong length', body: { ...ok, class_weights: [1, 2] }, status: 400, code: 'XENT_INVALID_SHAPE', pointer: '/class_weights' },
  { name: 'empty batch', body: { logits: [], labels: [] }, status: 400, code: 'XENT_EMPTY_INPUT', pointer: '/logits' },
  { name: 'zero classes', body: { logits: [[]], labels: [0] }, status: 400, code: 'XENT_EMPTY_INPUT', pointer: '/logits/0' },
  { name: 'a string among the logits', body: { logits: [[0, '1']], labels: [0] }, status: 400, code: 'XENT_INVALID_NUMBER', pointer: '/logits/0/1' },
  { name: 'null among the logits', body: { logits: [[0, 1], [null, 1]], labels: [0, 0] }, status: 400, code: 'XENT_INVALID_NUMBER', pointer: '/logits/1/0' },
  { name: 'a string label', body: { logits: [[0, 1]], labels: ['0'] }, status: 400, code: 'XENT_INVALID_NUMBER', pointer: '/labels/0' },
  { name: 'a boolean weight', body: { ...ok, class_weights: [1, true, 1] }, status: 400, code: 'XENT_INVALID_NUMBER', pointer: '/class_weights/1' },
  { name: 'logit 1e400 overflows float64', raw: '{"logits": [[0, 1], [1e400, 0]], "labels": [0, 0]}', status: 400, code: 'XENT_NUMBER_OUT_OF_RANGE', pointer: '/logits/1/0' },
  { name: 'target -1e400', raw: '{"logits": [[0, 1]], "targets": [[-1e400, 1]]}', status: 400, code: 'XENT_NUMBER_OUT_OF_RANGE', pointer: '/targets/0/0' },
  { name: 'probability above 1', body: { probabilities: [[0.5, 0.5], [1.2, -0.2]], labels: [0, 0] }, status: 400, code: 'XENT_PROBABILITY_OUT_OF_RANGE', pointer: '/probabilities/1/0' },
  { name: 'rows not summing to 1', body: { probabilities: [[0.5, 0.5], [0.5, 0.4]], labels: [0, 0] }, status: 400, code: 'XENT_PROBABILITIES_NOT_NORMALIZED', pointer: '/probabilities/1' },
  { name: 'negative target', body: { logits: [[0, 1]], targets: [[1.5, -0.5]] }, status: 400, code: 'XENT_NEGATIVE_TARGET', pointer: '/targets/0/1' },
  { name: 'negative class weight', body: { ...ok, class_weights: [1, -2, 1] }, status: 400, code: 'XENT_NEGATIVE_WEIGHT', pointer: '/class_weights/1' },
  { name: 'fractional label', body: { logits: [[0, 1]], labels: [0.5] }, status: 400, code: 'XENT_LABEL_NOT_INTEGER', pointer: '/labels/0' },
  { name: 'label equal to C', body: { logits: [[0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 1, 2]], labels: [0, 1, 2, 3] }, status: 400, code: 'XENT_LABEL_OUT_OF_RANGE', pointer: '/labels/3' },
  { name: 'label -1', body: { logits: [[0, 1]], labels: [-1] }, status: 400, code: 'XENT_LABEL_OUT_OF_RANGE', pointer: '/labels/0' },
  { name: '3-D label out of range', body: { logits: [[[0, 1], [0, 1]], [[0, 1], [0, 1]]], labels: [[0, 1], [5, 0]] }, status: 400, code: 'XENT_LABEL_OUT_OF_RANGE', pointer: '/labels/1/0' },
  { name: 'body over the limit', app: 'small', body: { logits: [Array.from({ length: 400 }, () => 0.123456789)], labels: [0] }, status: 413, code: 'XENT_BODY_TOO_LARGE' },
  { name: 'more numbers than MAX_ELEMENTS', app: 'small', body: { logits: [[0, 1, 2], [0, 1, 2]], labels: [0, 0] }, status: 413, code: 'XENT_TOO_MANY_ELEMENTS', pointer: '/logits' },
  { name: 'text/plain', raw: JSON.stringify(ok), contentType: 'text/plain', status: 415, code: 'XENT_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'form data', raw: 'a=1', contentType: 'application/x-www-form-urlencoded', status: 415, code: 'XENT_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'zero probability on the label', body: { probabilities: [[0.5, 0.5], [1, 0]], labels: [0, 1] }, status: 422, code: 'XENT_NON_FINITE_RESULT', pointer: '/probabilities/1' },
  { name: 'zero probability in 3-D', body: { probabilities: [[[0.5, 0.5]], [[1, 0]]], labels: [[0], [1]] }, status: 422, code: 'XENT_NON_FINITE_RESULT', pointer: '/probabilities/1/0' },
  { name: 'loss above float64', body: { logits: [[1.7e308, -1.7e308]], labels: [1] }, status: 422, code: 'XENT_NON_FINITE_RESULT', pointer: '/logits/0' },
  { name: 'sum above float64', body: { logits: [[1e308, -5e307], [1e308, -5e307]], labels: [1, 1] }, status: 422, code: 'XENT_NON_FINITE_RESULT' },
  { name: 'unknown route', method: 'GET', url: '/nope', status: 404, code: 'XENT_NOT_FOUND' },
  { name: 'GET on a POST route', method: 'GET', url: '/loss', status: 405, code: 'XENT_METHOD_NOT_ALLOWED' },
];

/** Codes that cannot be provoked by one JSON request to a healthy default app, and the tests that cover them. */
const COVERED_ELSEWHERE: Partial<Record<ErrorCode, string>> = {
  XENT_LABEL_ON_MASKED_CLASS: 'binary tensors only: test/oip, test/kernel/crossEntropy.test.ts',
  XENT_ROW_ALL_MASKED: 'binary tensors only: test/oip',
  XENT_UNSUPPORTED_DATATYPE: 'test/oip',
  XENT_INVALID_BINARY_DATA: 'test/oip',
  XENT_BAD_REQUEST: 'malformed HTTP framing: test/http/errors.test.ts (content-length)',
  XENT_UNAUTHORIZED: 'API_KEYS: test/http/production.test.ts',
  XENT_REQUEST_TIMEOUT: 'slow headers on a real socket: test/server/abuse.test.ts',
  XENT_HEADERS_TOO_LARGE: 'oversized headers on a real socket: test/server/abuse.test.ts',
  XENT_EXPECTATION_FAILED: 'an unknown Expect on a real socket: test/server/edges.test.ts',
  XENT_RATE_LIMITED: 'RATE_LIMIT: test/http/production.test.ts',
  XENT_INTERNAL: 'never by input: a bug; test/http/errors.test.ts (handler mapping)',
  XENT_OVERLOADED: 'a full queue: test/pool/faults.test.ts',
  XENT_TIMEOUT: 'REQUEST_TIMEOUT_MS: test/pool/faults.test.ts',
  XENT_WORKER_FAILED: 'fault injection: test/pool/faults.test.ts',
  XENT_NOT_READY: 'shutdown and overload: test/server/shutdown.test.ts, test/pool/faults.test.ts',
  XENT_SHUTTING_DOWN: 'a task submitted to a closed pool: test/pool/worker.test.ts',
  XENT_INVALID_STATE: 'POST /merge with altered states: test/codec/diagnostics.test.ts',
  XENT_STATE_MISMATCH: 'POST /merge with states of different options: test/codec/diagnostics.test.ts',
};

let apps: Record<'default' | 'small', FastifyInstance>;
let rawApps: Record<'default' | 'small', FastifyInstance>;
beforeAll(async () => {
  apps = {
    default: await buildTestApp(),
    small: await buildTestApp({ bodyLimit: 2048, maxElements: 4 }),
  };
  rawApps = {
    default: await buildTestApp({ inlineMaxBytes: 0 }),
    small: await buildTestApp({ bodyLimit: 2048, maxElements: 4, inlineMaxBytes: 0 }),
  };
});
afterAll(async () => {
  for (const app of [...Object.values(apps), ...Object.values(rawApps)]) await app.close();
});

describe('error catalogue - bodies parsed in a worker give identical problems', () => {
  for (const c of CASES.filter((c) => c.method !== 'GET')) {
    it(c.name, async () => {
      const request = {
        method: 'POST' as const,
        url: c.url ?? '/loss',
        payload: c.raw ?? JSON.stringify(c.body),
        headers: { 'content-type': c.contentType ?? 'application/json' },
      };
      const inline = await apps[c.app ?? 'default'].inject(request);
      const raw = await rawApps[c.app ?? 'default'].inject(request);
      expect(raw.statusCode).toBe(inline.statusCode);
      expect(raw.body).toBe(inline.body);
    });
  }
});

describe('error catalogue', () => {
  for (const c of CASES) {
    it(`${c.name} - ${c.status} ${c.code}${c.pointer === undefined ? '' : ` at ${c.pointer}`}`, async () => {
      const res = await apps[c.app ?? 'default'].inject({
        method: c.method ?? 'POST',
        url: c.url ?? '/loss',
        ...(c.method === 'GET' ? {} : { payload: c.raw ?? JSON.stringify(c.body), headers: { 'content-type': c.contentType ?? 'application/json' } }),
      });
      expect(res.statusCode).toBe(c.status);
      expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      const problem = res.json();
      expect(problem.status).toBe(c.status);
      expect(problem.code).toBe(c.code);
      expect(problem.title).toBe(ERRORS[c.code].title);
      expect(typeof problem.detail).toBe('string');
      expect(problem.pointer).toBe(c.pointer);
      if (c.pointer !== undefined) expect(problem.detail.startsWith(`${c.pointer}: `)).toBe(true);
      expect(problem.errors[0]).toEqual({ code: c.code, pointer: c.pointer ?? '', detail: expect.any(String) });
      expect(res.body).not.toMatch(/at .*\.(js|ts):\d+/); // no stack trace
    });
  }

  it('covers every code of the catalog, here or in a named test', () => {
    const here = new Set(CASES.map((c) => c.code));
    const missing = Object.keys(ERRORS).filter((code) => !here.has(code as ErrorCode) && !(code in COVERED_ELSEWHERE));
    expect(missing).toEqual([]);
  });

  it('lists several problems at once, each with its pointer', async () => {
    const res = await apps.default.inject({
      method: 'POST',
      url: '/loss',
      payload: { logits: [[0, 'a', 1], [null, 1, 2]], labels: [0, 0] },
    });
    const problem = res.json();
    expect(problem.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/logits/0/1', '/logits/1/0']);
  });

  it('reports at most 10 problems', async () => {
    const res = await apps.default.inject({ method: 'POST', url: '/loss', payload: { logits: [Array.from({ length: 50 }, () => 'x')], labels: [0] } });
    expect(res.json().errors).toHaveLength(10);
  });

  it('a declared Content-Length over the limit is refused before the body is read', async () => {
    const res = await apps.small.inject({
      method: 'POST',
      url: '/loss',
      payload: '{}',
      headers: { 'content-type': 'application/json', 'content-length': '999999999' },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('XENT_BODY_TOO_LARGE');
  });

  it('a Content-Length that disagrees with the body is a 400', async () => {
    const res = await apps.default.inject({
      method: 'POST',
      url: '/loss',
      payload: '{"a": 1}',
      headers: { 'content-type': 'application/json', 'content-length': '3' },
    });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
  });

  it('echoes no more than a bounded excerpt of a long unknown key', async () => {
    const key = 'k'.repeat(10_000);
    const res = await apps.default.inject({ method: 'POST', url: '/loss', payload: { ...ok, [key]: 1 } });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail.length).toBeLessThan(10_100); // the pointer names the key; the message does not repeat it
    expect(res.json().errors[0].detail.length).toBeLessThan(200);
  });
});
