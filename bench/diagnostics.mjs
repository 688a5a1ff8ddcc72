// Cost of the evaluation diagnostics against the loss pass they accompany, on the bench's two target shapes (8 × 50257
// and 32 × 10 logits N(0, 3²), uniform labels): the CPU time of crossEntropyRows, and of diagnose with everything
// and with each figure alone, as a ratio to the loss pass. Series are interleaved (a b c …, a b c …) so that drift on a
// shared machine hits all alike, and each is represented by its fastest round, the least disturbed by other processes
// (the median moves by ±30 % on a busy 2-core machine). Not part of the test suite (it is a .mjs script, and it asserts nothing).
//
// Usage: npm run build && node bench/diagnostics.mjs [--quick]
import { performance } from 'node:perf_hooks';
import { crossEntropyRows } from '../dist/kernel/crossEntropy.js';
import { diagnose } from '../dist/kernel/diagnostics.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 9;
const MIN_MS = quick ? 50 : 150;

function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function taskOf(rows, classes, { kind = 'logits', soft = false, smoothing = 0 } = {}) {
  const random = prng(rows * 1000 + classes);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const input = new Float64Array(rows * classes);
  for (let i = 0; i < input.length; i++) input[i] = 3 * normal();
  if (kind === 'probabilities') {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < classes; c++) s += input[r * classes + c] = Math.exp(input[r * classes + c]);
      for (let c = 0; c < classes; c++) input[r * classes + c] /= s;
    }
  }
  let targets = null;
  if (soft) {
    targets = new Float64Array(rows * classes);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < classes; c++) s += targets[r * classes + c] = random();
      for (let c = 0; c < classes; c++) targets[r * classes + c] /= s;
    }
  }
  return {
    kind,
    rows,
    classes,
    input,
    labels: soft ? null : Float64Array.from({ length: rows }, () => Math.floor(random() * classes)),
    targets,
    classWeights: null,
    ignoreIndex: -100,
    labelSmoothing: smoothing,
    epsilon: 0,
    unit: 'nats',
  };
}

const none = { probability: false, rank: false, entropy: false, kl: false, brier: false, topK: null, calibrationBins: null };
const everything = { probability: true, rank: true, entropy: true, kl: true, brier: true, topK: [1, 5], calibrationBins: 15 };
const alone = {
  probability: { ...none, probability: true },
  rank: { ...none, rank: true, topK: [1, 5] },
  entropy: { ...none, entropy: true },
  kl: { ...none, kl: true },
  brier: { ...none, brier: true },
  calibration: { ...none, calibrationBins: 15 },
};

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

for (const [name, task] of [
  ['8x50257 logits labels', taskOf(8, 50257)],
  ['8x50257 logits labels smoothing 0.1', taskOf(8, 50257, { smoothing: 0.1 })],
  ['8x50257 logits soft targets', taskOf(8, 50257, { soft: true })],
  ['8x50257 probabilities labels', taskOf(8, 50257, { kind: 'probabilities' })],
  ['32x10 logits labels', taskOf(32, 10)],
  ['32x10 probabilities soft targets', taskOf(32, 10, { kind: 'probabilities', soft: true })],
]) {
  const series = { loss: () => crossEntropyRows(task), all: () => diagnose(task, everything) };
  for (const [k, spec] of Object.entries(alone)) series[k] = () => diagnose(task, spec);
  const times = Object.fromEntries(Object.keys(series).map((k) => [k, []]));
  for (const f of Object.values(series)) time(f); // warm-up
  for (let round = 0; round < ROUNDS; round++) for (const [k, f] of Object.entries(series)) times[k].push(time(f));
  const loss = fastest(times.loss);
  const parts = Object.keys(series)
    .filter((k) => k !== 'loss')
    .map((k) => `${k} ${(fastest(times[k]) / loss).toFixed(2)}`);
  console.log(`${name}: loss pass ${(loss * 1000).toFixed(1)} µs; diagnostics / loss: ${parts.join(', ')}`);
}
