// Cost of `include` (the evaluation diagnostics) on a whole request: the CPU time of scoreBody (the function both the
// event loop and the pool's workers run: decode the JSON body, evaluate, encode the answer) for a /cost body with
// include: everything, and with each name alone, as a ratio to the same body without include. The bench's two target
// shapes (8 × 50257 and 32 × 10 logits N(0, 3²), uniform labels), and soft targets. Series are interleaved (a b c …,
// a b c …) so that drift on a shared machine hits all alike, and each is represented by its fastest round, the least
// disturbed by other processes (the median moves by ±30 % on a busy 2-core machine). Not part of the test suite.
//
// Usage: npm run build && node bench/diagnostics.mjs [--quick]
import { performance } from 'node:perf_hooks';
import { scoreBody } from '../dist/codec/body.js';
import { mulberry32 } from './payloads.mjs';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 9;
const MIN_MS = quick ? 60 : 200;
const limits = { maxElements: 16_000_000 };

/** A /cost body: logits N(0, 3²) and uniform labels, or soft targets. */
function bodyOf(rows, classes, { soft = false } = {}) {
  const random = mulberry32(rows * 1000 + classes);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const logits = Array.from({ length: rows }, () => Array.from({ length: classes }, () => 3 * normal()));
  if (!soft) return { logits, labels: Array.from({ length: rows }, () => Math.floor(random() * classes)) };
  const targets = Array.from({ length: rows }, () => {
    const row = Array.from({ length: classes }, () => random());
    const s = row.reduce((a, b) => a + b, 0);
    return row.map((x) => x / s);
  });
  return { logits, targets };
}

const ALL = ['probability', 'rank', 'top_k', 'entropy', 'kl', 'brier', 'calibration'];

/**
 * CPU milliseconds per call of f (process.cpuUsage: on a shared machine the time the process ran, not the time it
 * waited for a core), over ≥ MIN_MS of wall time.
 */
function time(f) {
  let n = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  do {
    f();
    n++;
  } while (performance.now() - start < MIN_MS);
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1000 / n;
}

const fastest = (xs) => Math.min(...xs);
const encoder = new TextEncoder();

function scorer(body, include) {
  const bytes = encoder.encode(JSON.stringify(include === null ? body : { ...body, include }));
  return () => {
    const outcome = scoreBody({ protocol: 'score', bytes, withLosses: false, limits });
    if (!outcome.ok) throw new Error(JSON.stringify(outcome.issues[0]));
  };
}

for (const [name, body] of [
  ['32x10 logits labels', bodyOf(32, 10)],
  ['8x50257 logits labels', bodyOf(8, 50257)],
  ['8x50257 logits soft targets', bodyOf(8, 50257, { soft: true })],
]) {
  const series = { none: scorer(body, null), all: scorer(body, ALL) };
  for (const k of ALL) series[k] = scorer(body, [k]);
  const times = Object.fromEntries(Object.keys(series).map((k) => [k, []]));
  for (const f of Object.values(series)) time(f); // warm-up
  for (let round = 0; round < ROUNDS; round++) for (const [k, f] of Object.entries(series)) times[k].push(time(f));
  const base = fastest(times.none);
  const parts = Object.keys(series)
    .filter((k) => k !== 'none')
    .map((k) => `${k} ${(fastest(times[k]) / base).toFixed(2)}`);
  console.log(`${name}: /cost without include ${(base * 1000).toFixed(0)} µs per request; with include / without: ${parts.join(', ')}`);
}
