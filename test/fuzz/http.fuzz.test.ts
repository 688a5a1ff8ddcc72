/**
 * Property-based fuzzing of POST /loss and POST /cost through app.inject.
 *
 * Every generated request is sent to both endpoints of two apps: `inline` (the defaults: small JSON bodies parsed and
 * scored on the event loop) and `worker` (INLINE_MAX_BYTES=0: every JSON body moved as raw bytes to a worker thread
 * that parses, validates, scores and serialises it). For every answer (test/fuzz/invariants.ts):
 * - never a 5xx;
 * - a 4xx is application/problem+json, its `code` is in the catalog (ERRORS) with that status, `status` equals the
 *   HTTP status, `detail` leads with `pointer`, and every pointer names a real place of the right kind in the request
 *   as sent (XENT_INVALID_JSON, XENT_MISSING_FIELD and the like name none);
 * - the answer is what a direct decodeScoreRequest + evaluate() of the same bytes gives: the same problem, or a 200
 *   body equal byte for byte (every float64 as its shortest round-trip text) to one written from evaluate()'s summary;
 * - both apps answer byte for byte the same.
 *
 * Budget: FUZZ_RUNS (default 1 000) scales the runs: 1 000 valid, 2 000 mutated, 500 each of JSON values, text
 * and bytes: 4 500 requests, each answered 4 times (2 apps × 2 endpoints), ~20 s on 2 cores.
 * More on demand, e.g. `FUZZ_RUNS=5000 npx vitest run test/fuzz/http.fuzz.test.ts` (timeouts scale with it).
 * A failure prints fast-check's seed and path; replay it with `FUZZ_SEED=<seed>` (and the same FUZZ_RUNS).
 * FUZZ_STATS=1 prints how many answers of each status and code the generators reached.
 */
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildTestApp } from '../helper.js';
import { disagreement, reference, violations, type Answer } from './invariants.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const TIMEOUT_MS = 30_000 + RUNS * 100;
const MAX_ELEMENTS = loadConfig({}).maxElements;

let apps: { name: string; app: FastifyInstance }[];
beforeAll(async () => {
  apps = [
    { name: 'inline', app: await buildTestApp() },
    { name: 'worker', app: await buildTestApp({ inlineMaxBytes: 0 }) },
  ];
});
afterAll(async () => {
  for (const { app } of apps) await app.close();
  if (process.env.FUZZ_STATS !== undefined) console.log('answers by status and code:', Object.fromEntries([...tally].sort((a, b) => b[1] - a[1])));
});

/** Answers seen, by status and code (printed with FUZZ_STATS=1, to see what the generators reach). */
const tally = new Map<string, number>();

/** Content types the service reads as JSON (media type matched case-insensitively, parameters ignored). */
const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/json;'];
const OTHER_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/problem+json', 'text/json', 'multipart/form-data; boundary=x', ''];

interface Sent {
  /** What the body is, for the failure report (a 5 000-deep body is not printed whole). */
  label: string;
  payload: Buffer;
  contentType: string | null;
  /** fast-check prints a counterexample by this, not by its bytes. */
  [fc.toStringMethod]?: () => string;
}

/** Sends one body to both endpoints of both apps and checks every invariant. */
async function check(sent: Sent): Promise<void> {
  const text = sent.payload.toString('utf8');
  const isJson = sent.contentType !== null && JSON_TYPES.includes(sent.contentType);
  for (const url of ['/loss', '/cost']) {
    const ref = isJson ? reference(text, url === '/loss', MAX_ELEMENTS) : null;
    const answers: Answer[] = [];
    for (const { name, app } of apps) {
      const res = await app.inject({
        method: 'POST',
        url,
        payload: sent.payload,
        headers: sent.contentType === null ? {} : { 'content-type': sent.contentType },
      });
      const answer = { statusCode: res.statusCode, headers: res.headers, body: res.body };
      answers.push(answer);
      if (name === 'inline') {
        const code = res.statusCode === 200 ? '' : (/"code":"(\w+)"/.exec(res.body)?.[1] ?? '?');
        tally.set(`${res.statusCode} ${code}`, (tally.get(`${res.statusCode} ${code}`) ?? 0) + 1);
      }
      const wrong = violations(answer, isJson ? text : null);
      if (ref !== null && wrong.length === 0) wrong.push(...disagreement(answer, ref));
      if (!isJson && answer.statusCode !== 415 && !(sent.payload.length === 0 && sent.contentType === null && answer.statusCode === 400)) {
        // Another content type is a 415; a POST with neither body nor Content-Type is a 400 (the body is missing).
        wrong.push(`content-type ${JSON.stringify(sent.contentType)} answered ${answer.statusCode}`);
      }
      if (wrong.length > 0) throw new Error(`${name} ${url} ${sent.label}: ${wrong.join('; ')}`);
    }
    const [inline, worker] = answers as [Answer, Answer];
    if (inline.statusCode !== worker.statusCode || inline.body !== worker.body) {
      throw new Error(`${url} ${sent.label}: inline ${inline.statusCode} and worker ${worker.statusCode} answers differ`);
    }
  }
}

const json = (label: string, text: string, contentType: string | null = 'application/json'): Sent => ({
  label,
  payload: Buffer.from(text, 'utf8'),
  contentType,
  [fc.toStringMethod]: () => `${label} (${contentType ?? 'no content-type'})`,
});

// ---------------------------------------------------------------------------------------------------------------
// Valid requests: random shapes (2 to 4 dimensions), logits or probabilities, labels or targets, every option.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Request = Record<string, Json>;

/** Logits of one request: mostly ordinary, sometimes integers (ties), sometimes wild (±1e300, subnormals, any double). */
const logitsOf = (kind: 'ordinary' | 'integers' | 'wild') =>
  kind === 'ordinary'
    ? fc.double({ min: -20, max: 20, noNaN: true })
    : kind === 'integers'
      ? fc.integer({ min: -3, max: 3 })
      : fc.oneof(
          fc.double({ min: -20, max: 20, noNaN: true }),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.constantFrom(0, -0, 1e300, -1e300, 5e-324, -5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, 1e15 + 0.5),
        );

/** Rows that sum to 1 within 1e-4: random non-negative weights normalised, sometimes one-hot or with zeros. */
const probabilityRow = (classes: number) =>
  fc.array(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(0)), { minLength: classes, maxLength: classes }).map((w) => {
    const total = w.reduce((a, b) => a + b, 0);
    if (!(total > 0)) return w.map((_, i) => (i === 0 ? 1 : 0));
    return w.map((x) => x / total);
  });

const fill = <T>(shape: number[], leaf: fc.Arbitrary<T>): fc.Arbitrary<Json> =>
  shape.length === 0 ? (leaf as unknown as fc.Arbitrary<Json>) : fc.array(fill(shape.slice(1), leaf), { minLength: shape[0]!, maxLength: shape[0]! });

const validRequest: fc.Arbitrary<Request> = fc
  .record({
    lead: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
    classes: fc.integer({ min: 1, max: 6 }),
    probabilities: fc.boolean(),
    targets: fc.boolean(),
    numbers: fc.constantFrom('ordinary', 'ordinary', 'ordinary', 'integers', 'wild') as fc.Arbitrary<'ordinary' | 'integers' | 'wild'>,
    ignoreIndex: fc.option(fc.oneof(fc.constant(-100), fc.integer({ min: -2, max: 6 }))),
  })
  .chain(({ lead, classes, probabilities, targets, numbers, ignoreIndex }) => {
    const shape = [...lead, classes];
    const input = probabilities ? fill(lead, probabilityRow(classes)) : fill(shape, logitsOf(numbers));
    const label = fc.oneof({ arbitrary: fc.integer({ min: 0, max: classes - 1 }), weight: 8 }, { arbitrary: fc.constant(ignoreIndex ?? -100), weight: 1 });
    const target = fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constantFrom(0, 1));
    const truth = targets ? fill(shape, target) : fill(lead, label);
    return fc.record(
      {
        [probabilities ? 'probabilities' : 'logits']: input,
        [targets ? 'targets' : 'labels']: truth,
        class_weights: fc.array(fc.oneof(fc.double({ min: 0, max: 5, noNaN: true }), fc.constantFrom(0, 1)), { minLength: classes, maxLength: classes }),
        ...(targets || ignoreIndex === null ? {} : { ignore_index: fc.constant(ignoreIndex) }),
        label_smoothing: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
        ...(probabilities ? { epsilon: fc.oneof(fc.constant(0), fc.constant(1e-7), fc.double({ min: 0, max: 0.5, noNaN: true })) } : {}),
        unit: fc.constantFrom('nats', 'bits'),
      } as Record<string, fc.Arbitrary<Json>>,
      { requiredKeys: [probabilities ? 'probabilities' : 'logits', targets ? 'targets' : 'labels', ...(targets || ignoreIndex === null ? [] : ['ignore_index'])] },
    );
  });

// ---------------------------------------------------------------------------------------------------------------
// Mutations. A request is held as a list of raw `"key":value` texts so that duplicate keys, raw numbers JSON.stringify
// cannot write (1e400) and deep nesting are expressible; object-level mutations run first, then entry-level, then
// text-level ones. Each mutation prints as its name and parameters.

type Entries = [key: string, value: string][];

interface Mutation<T> {
  apply: (x: T) => T;
}

const named = <T>(label: string, apply: (x: T) => T): Mutation<T> =>
  Object.assign({ apply }, { [fc.toStringMethod]: () => label }) as Mutation<T>;

/** Every path to a number inside the tensors of a request. */
function leafPaths(req: Request): (string | number)[][] {
  const paths: (string | number)[][] = [];
  const walk = (v: Json, path: (string | number)[]) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (typeof v === 'number') paths.push(path);
  };
  for (const [k, v] of Object.entries(req)) if (Array.isArray(v)) walk(v, [k]);
  return paths;
}

/** Every path to an array inside the tensors of a request. */
function arrayPaths(req: Request): (string | number)[][] {
  const paths: (string | number)[][] = [];
  const walk = (v: Json, path: (string | number)[]) => {
    if (!Array.isArray(v)) return;
    paths.push(path);
    v.forEach((x, i) => walk(x, [...path, i]));
  };
  for (const [k, v] of Object.entries(req)) walk(v, [k]);
  return paths;
}

function setAt(req: Request, path: (string | number)[], value: Json): Request {
  const copy = structuredClone(req);
  let parent: Json = copy;
  for (const key of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[key]!;
  (parent as Record<string | number, Json>)[path[path.length - 1]!] = value;
  return copy;
}

function getAt(req: Request, path: (string | number)[]): Json {
  let v: Json = req;
  for (const key of path) v = (v as Record<string | number, Json>)[key]!;
  return v;
}

const pick = <T>(items: T[], i: number): T | undefined => (items.length === 0 ? undefined : items[i % items.length]);

const wrongValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>('1', '', null, true, false, {}, [], [1], [[0]], 'NaN', 'Infinity'),
  fc.string({ maxLength: 20 }),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

const extremeNumber = fc.constantFrom(1e308, -1e308, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -5e-324, 1e-320, 2 ** 53 + 2, -(2 ** 63), 0.1 + 0.2, 1e16, -0, 4.9e-324, 1e-7);

const objectMutation: fc.Arbitrary<Mutation<Request>> = fc.oneof(
  // ragged rows: an array of a tensor one element shorter or longer
  fc.record({ at: fc.nat(), grow: fc.boolean() }).map(({ at, grow }) =>
    named(`ragged(${at},${grow ? '+1' : '-1'})`, (req: Request) => {
      const path = pick(arrayPaths(req), at);
      if (path === undefined) return req;
      const arr = [...(getAt(req, path) as Json[])];
      if (grow) arr.push(arr.length > 0 ? structuredClone(arr[0]!) : 0);
      else arr.pop();
      return setAt(req, path, arr);
    }),
  ),
  // a wrong type where a number belongs
  fc.record({ at: fc.nat(), value: wrongValue }).map(({ at, value }) =>
    named(`wrongType(${at},${JSON.stringify(value)})`, (req: Request) => {
      const path = pick(leafPaths(req), at);
      return path === undefined ? req : setAt(req, path, value);
    }),
  ),
  // huge and tiny numbers
  fc.record({ at: fc.nat(), value: extremeNumber }).map(({ at, value }) =>
    named(`extreme(${at},${value})`, (req: Request) => {
      const path = pick(leafPaths(req), at);
      return path === undefined ? req : setAt(req, path, value);
    }),
  ),
  // a value of the wrong kind in the label or weight domain
  fc.record({ at: fc.nat(), value: fc.constantFrom(-1, 0.5, 6, 1e9, -100.5, 1.5, -0.25, 2) }).map(({ at, value }) =>
    named(`domain(${at},${value})`, (req: Request) => {
      const path = pick(leafPaths(req), at);
      return path === undefined ? req : setAt(req, path, value);
    }),
  ),
  // a whole field replaced by any JSON value
  fc.record({ at: fc.nat(), value: fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json> }).map(({ at, value }) =>
    named(`replaceField(${at},${JSON.stringify(value).slice(0, 80)})`, (req: Request) => {
      const key = pick(Object.keys(req), at);
      return key === undefined ? req : { ...req, [key]: value };
    }),
  ),
  // a field removed
  fc.nat().map((at) =>
    named(`removeField(${at})`, (req: Request) => {
      const key = pick(Object.keys(req), at);
      if (key === undefined) return req;
      const { [key]: _gone, ...rest } = req;
      return rest;
    }),
  ),
  // an unknown field, a typo, or the other field of a pair
  fc
    .record({
      key: fc.oneof(
        fc.constantFrom('label_smooting', 'logit', 'Labels', 'weights', 'ignoreIndex', 'probabilities', 'targets', 'logits', 'labels', 'a/b~c', ''),
        fc.string({ maxLength: 12 }),
        fc.string({ unit: 'binary', maxLength: 8 }),
      ),
      value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
    })
    .map(({ key, value }) => named(`addField(${JSON.stringify(key)})`, (req: Request) => ({ ...req, [key]: value }))),
  // an option of the wrong type or range
  fc
    .record({
      key: fc.constantFrom('ignore_index', 'label_smoothing', 'epsilon', 'unit'),
      value: fc.oneof(fc.constantFrom<Json>(-1, 1.5, 0.6, 'nats ', 'NATS', 'bits\u0000', 0.5, 2 ** 53, -(2 ** 60), null), fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>),
    })
    .map(({ key, value }) => named(`option(${key},${JSON.stringify(value)})`, (req: Request) => ({ ...req, [key]: value }))),
  // an empty batch, an empty class dimension
  fc.nat().map((at) =>
    named(`emptyArray(${at})`, (req: Request) => {
      const path = pick(arrayPaths(req), at);
      return path === undefined ? req : setAt(req, path, []);
    }),
  ),
);

const toEntries = (req: Request): Entries => Object.entries(req).map(([k, v]) => [JSON.stringify(k), JSON.stringify(v)]);
const fromEntries = (entries: Entries): string => `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`;
const nested = (depth: number, inner: string) => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

const depth = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 5000 }), fc.constantFrom(1000, 5000));

const entryMutation: fc.Arbitrary<Mutation<Entries>> = fc.oneof(
  // 1e400 and other numbers JSON.stringify cannot write, raw in the text
  fc.record({ at: fc.nat(), field: fc.nat(), raw: fc.constantFrom('1e400', '-1e400', '1E+400', '-0.0e-999', '123456789012345678901234567890', '1e-400', '0.0000000000000000000000000000001e-300', '4.9e-325') }).map(
    ({ at, field, raw }) =>
      named<Entries>(`rawNumber(${field},${at},${raw})`, (entries: Entries) => {
        const entry = pick(entries, field);
        if (entry === undefined) return entries;
        const numbers = [...entry[1].matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
        const m = pick(numbers, at);
        if (m === undefined) return entries;
        const value = entry[1].slice(0, m.index) + raw + entry[1].slice(m.index + m[0].length);
        return entries.map((e) => (e === entry ? [e[0], value] : e));
      }),
  ),
  // deep nesting: a field wrapped in extra dimensions, or replaced by a deep array
  fc.record({ field: fc.nat(), depth, leaf: fc.constantFrom('1', '0', '', '"x"', '{}', 'null'), wrap: fc.boolean() }).map(({ field, depth, leaf, wrap }) =>
    named<Entries>(`deep(${field},${depth},${wrap ? 'wrap' : leaf})`, (entries: Entries) => {
      const entry = pick(entries, field);
      if (entry === undefined) return entries;
      const value = wrap ? nested(depth, entry[1]) : nested(depth, leaf);
      return entries.map((e) => (e === entry ? [e[0], value] : e));
    }),
  ),
  // a valid request as deep as it gets: logits [1]×depth×[C], labels [1]×depth
  depth.map((d) =>
    named<Entries>(`deepValid(${d})`, () => [
      ['"logits"', nested(d, '[0.5,-1.5,2]')],
      ['"labels"', nested(d, '2')],
    ]),
  ),
  // duplicate keys: JSON.parse keeps the last
  fc.record({ field: fc.nat(), value: fc.constantFrom('[[1,2],[3,4]]', '[0,1]', '[[0.5,0.5]]', '"bits"', '0.1', 'null', '[]', '{}'), before: fc.boolean() }).map(
    ({ field, value, before }) =>
      named<Entries>(`duplicate(${field},${value},${before ? 'before' : 'after'})`, (entries: Entries) => {
        const entry = pick(entries, field);
        if (entry === undefined) return entries;
        const i = entries.indexOf(entry);
        const copy = [...entries];
        copy.splice(before ? i : i + 1, 0, [entry[0], value]);
        return copy;
      }),
  ),
  // __proto__, constructor, prototype: at the top, or nested inside a tensor
  fc.record({ key: fc.constantFrom('__proto__', 'constructor', 'prototype', '__proto__ ', 'hasOwnProperty', 'toString', 'valueOf'), value: fc.constantFrom('{"polluted":1}', '1', '[[1,2]]', 'null', '{"prototype":{}}'), nestedIn: fc.option(fc.nat()) }).map(
    ({ key, value, nestedIn }) =>
      named<Entries>(`key(${key},${value},${nestedIn ?? 'top'})`, (entries: Entries) => {
        if (nestedIn === null) return [[JSON.stringify(key), value], ...entries];
        const entry = pick(entries, nestedIn);
        if (entry === undefined || !entry[1].startsWith('[')) return entries;
        // the first number of the tensor becomes an object with that key
        const inner = entry[1].replace(/-?\d+(\.\d+)?([eE][+-]?\d+)?/, `{${JSON.stringify(key)}:${value}}`);
        return entries.map((e) => (e === entry ? [e[0], inner] : e));
      }),
  ),
  // long strings: as a key, as a value, as an option
  fc.record({ length: fc.constantFrom(100, 10_000, 100_000), where: fc.constantFrom('key', 'value', 'unit', 'leaf') }).map(({ length, where }) =>
    named<Entries>(`long(${where},${length})`, (entries: Entries) => {
      const s = JSON.stringify('é'.repeat(length / 2) + 'x'.repeat(length / 2));
      if (where === 'key') return [...entries, [s, '1']];
      if (where === 'value') return [...entries, ['"extra"', s]];
      if (where === 'unit') return [...entries.filter((e) => e[0] !== '"unit"'), ['"unit"', s]];
      return entries.map((e, i) => (i === 0 && e[1].startsWith('[') ? [e[0], e[1].replace(/-?\d+(\.\d+)?([eE][+-]?\d+)?/, s)] : e));
    }),
  ),
  // unicode: any UTF-16 (lone surrogates included) in keys and values, escaped or raw
  fc.record({ s: fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }), raw: fc.boolean(), asKey: fc.boolean() }).map(({ s, raw, asKey }) =>
    named<Entries>(`unicode(${JSON.stringify(s)},${raw ? 'raw' : 'escaped'},${asKey ? 'key' : 'value'})`, (entries: Entries) => {
      // JSON.stringify escapes lone surrogates (\udXXX); "raw" writes them as UTF-16 code units, which become U+FFFD in UTF-8.
      const text = raw ? `"${Array.from(s, (c) => (c === '\\' || c === '"' ? `\\${c}` : c < ' ' ? ' ' : c)).join('')}"` : JSON.stringify(s);
      return asKey ? [...entries, [text, '0']] : [...entries.filter((e) => e[0] !== '"unit"'), ['"unit"', text]];
    }),
  ),
  fc.constantFrom(
    named<Entries>('loneSurrogateKey', (entries: Entries) => [...entries, ['"\\ud800"', '1']]),
    named<Entries>('nulInKey', (entries: Entries) => [...entries, ['"logits\\u0000"', '1']]),
    named<Entries>('lineSeparators', (entries: Entries) => [...entries, ['"\u2028\u2029"', '"\ufeff"']]),
    named<Entries>('fullwidthUnit', (entries: Entries) => [...entries.filter((e) => e[0] !== '"unit"'), ['"unit"', '"ｎａｔｓ"']]),
    named<Entries>('escapedKey', (entries: Entries) => entries.map(([k, v]) => [k.replace(/[a-z]/, (c) => `\\u00${c.charCodeAt(0).toString(16)}`), v])),
  ),
);

const textMutation: fc.Arbitrary<Mutation<string>> = fc.oneof(
  fc.nat().map((at) => named(`truncate(${at})`, (text: string) => text.slice(0, at % Math.max(1, text.length)))),
  fc.constantFrom(
    named('empty', () => ''),
    named('whitespace', () => ' \n\t '),
    named('bom', (text: string) => `\ufeff${text}`),

    named('trailingGarbage', (text: string) => `${text} x`),
    named('trailingComma', (text: string) => text.replace(/}$/, ',}')),
    named('twoDocuments', (text: string) => `${text}${text}`),
    named('nan', (text: string) => text.replace(/-?\d+(\.\d+)?/, 'NaN')),
    named('singleQuotes', (text: string) => text.replaceAll('"', "'")),
    named('comment', (text: string) => `/* c */${text}`),
  ),
  fc.record({ at: fc.nat(), byte: fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }) }).map(({ at, byte }) =>
    named(`insert(${at},${JSON.stringify(byte)})`, (text: string) => {
      const i = at % (text.length + 1);
      return text.slice(0, i) + byte + text.slice(i);
    }),
  ),
);

type Staged = { stage: 0; m: Mutation<Request> } | { stage: 1; m: Mutation<Entries> } | { stage: 2; m: Mutation<string> };
const anyMutation: fc.Arbitrary<Staged> = fc.oneof(
  { arbitrary: objectMutation.map((m): Staged => ({ stage: 0, m })), weight: 5 },
  { arbitrary: entryMutation.map((m): Staged => ({ stage: 1, m })), weight: 4 },
  { arbitrary: textMutation.map((m): Staged => ({ stage: 2, m })), weight: 1 },
);

/** Mostly one mutation (so that the first issue reported is the one made), sometimes two or three. */
const mutatedRequest = fc
  .record({
    request: validRequest,
    mutations: fc.oneof(
      { arbitrary: fc.array(anyMutation, { minLength: 1, maxLength: 1 }), weight: 6 },
      { arbitrary: fc.array(anyMutation, { minLength: 2, maxLength: 3 }), weight: 2 },
    ),
    contentType: fc.oneof({ arbitrary: fc.constant('application/json'), weight: 15 }, { arbitrary: fc.constantFrom(...JSON_TYPES, ...OTHER_TYPES, null), weight: 1 }),
  })
  .map(({ request, mutations, contentType }): Sent => {
    const staged = [...mutations].sort((a, b) => a.stage - b.stage);
    let req = request;
    for (const s of staged) if (s.stage === 0) req = s.m.apply(req);
    let entries = toEntries(req);
    for (const s of staged) if (s.stage === 1) entries = s.m.apply(entries);
    let raw = fromEntries(entries);
    for (const s of staged) if (s.stage === 2) raw = s.m.apply(raw);
    const label = staged.map((s) => fc.stringify(s.m)).join(' ');
    return json(`${label} on ${raw.length > 300 ? `${raw.slice(0, 300)}… (${raw.length} chars)` : raw}`, raw, contentType);
  });

// ---------------------------------------------------------------------------------------------------------------

const options = (runs: number) => ({ numRuns: runs, ...(SEED === undefined ? {} : { seed: SEED }) });

describe('fuzz POST /loss and /cost, inline and in a worker', () => {
  it(
    'valid requests of random shapes and options - a 200 equal byte for byte to evaluate(), or the problem evaluate() finds',
    async () => {
      await fc.assert(
        fc.asyncProperty(validRequest, async (req) => check(json(JSON.stringify(req).slice(0, 300), JSON.stringify(req)))),
        options(RUNS),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'mutated valid requests (ragged, wrong types, extreme and raw numbers, deep, duplicate and forbidden keys, long strings, unicode, truncation, content types) - never a 5xx, every problem well-formed and pointing at a real place',
    async () => {
      await fc.assert(fc.asyncProperty(mutatedRequest, check), options(RUNS * 2));
    },
    TIMEOUT_MS * 2,
  );

  it(
    'any JSON value as the body, or as an extra field of a valid request - never a 5xx, problems well-formed',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.jsonValue(), validRequest, fc.string({ maxLength: 8 }), async (value, req, key) => {
          await check(json(`jsonValue ${JSON.stringify(value).slice(0, 200)}`, JSON.stringify(value)));
          await check(json(`extra field ${JSON.stringify(key)}`, JSON.stringify({ ...req, [key]: value })));
        }),
        options(Math.ceil(RUNS / 2)),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'arbitrary text and bytes as the body - never a 5xx, XENT_INVALID_JSON without a pointer when JSON.parse refuses it',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), fc.json({ maxDepth: 3 }), fc.constantFrom('', '{', '}', '[]', '{}', 'null', '"x"', '{"logits":}')),
          async (text) => check(json(`text ${JSON.stringify(text)}`, text)),
        ),
        options(Math.ceil(RUNS / 2)),
      );
    },
    TIMEOUT_MS,
  );

  it(
    'random bytes (invalid UTF-8 included) - never a 5xx',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 80 }), async (bytes) => {
          await check({ label: `bytes ${Buffer.from(bytes).toString('hex')}`, payload: Buffer.from(bytes), contentType: 'application/json' });
        }),
        options(Math.ceil(RUNS / 2)),
      );
    },
    TIMEOUT_MS,
  );
});

/**
 * Pinned: what fast-check found, kept as regressions. A shape of thousands of dimensions is valid JSON well under
 * every limit; the service must answer it (200, or a 400 such as a bound on the number of dimensions), never a 500
 * (stack overflow on the event loop) or a 503 (stack overflow in a worker), and the same whichever path reads it.
 */
describe('pinned fuzz findings - never a 5xx, and inline and worker answers agree', () => {
  const cases: [string, string][] = [
    ['a valid request 3 000 dimensions deep', `{"logits":${nested(3000, '[0.5,-1.5,2]')},"labels":${nested(3000, '2')}}`],
    ['a valid request 10 000 dimensions deep', `{"logits":${nested(10_000, '[0.5,-1.5,2]')},"labels":${nested(10_000, '2')}}`],
    ['logits 100 000 deep with labels of another shape', `{"logits":${nested(100_000, '1')},"labels":[0]}`],
    ['labels 100 000 deep', `{"logits":[[1,2]],"labels":${nested(100_000, '0')}}`],
    ['class_weights 100 000 deep', `{"logits":[[1,2]],"labels":[0],"class_weights":${nested(100_000, '1')}}`],
    ['an unknown field 100 000 deep', `{"logits":[[1,2]],"labels":[0],"x":${nested(100_000, '1')}}`],
    // A byte order mark: JSON.parse refuses it inline; the worker's TextDecoder drops it and scores the body.
    ['a body starting with a UTF-8 byte order mark', '\ufeff{"logits":[[0]],"labels":[0]}'],
    ['a POST with neither body nor content type', ''],
  ];
  for (const [name, text] of cases) {
    it(name, async () => check(json(name, text, text === '' ? null : 'application/json')), 60_000);
  }
});
