// Kernel throughput in one run: elements/s of
//   (a) the plain two-pass Math.exp loop (max pass, then Σ exp(z − m); naive and Neumaier-compensated),
//   (b) our kernel, crossEntropyRows on logits + labels (max pass, WebAssembly SIMD Σ exp, log1p, losses),
//   (c) @tensorflow/tfjs-backend-cpu's softmax cross-entropy (per-sample losses) on the same logits,
//   (d) for reference, the two-pass loop with our table-driven exp in plain JavaScript (no WebAssembly),
// at C = 10, 1000, 50257 and 250000. Each measurement repeats passes over a batch of ~2M logits until ≥ 0.3 s
// have passed; every series is warmed up first; the repeats are interleaved (a b c d, a b c d, …) so that drift on a
// shared machine hits all series alike; the figure is the median.
//
// Usage: npm run build && node bench/kernel.mjs [--quick]   (--quick: 3 repeats of ≥ 0.1 s, for a smoke test)
// Writes bench/results/kernel.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { crossEntropyRows } from '../dist/kernel/crossEntropy.js';
import { sumExpBackend, sumExpShiftedJs } from '../dist/kernel/exp.js';

const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');

const quick = process.argv.includes('--quick');
const MIN_SECONDS = quick ? 0.1 : 0.3;
const REPEATS = quick ? 3 : 5;
const CLASSES = [10, 1000, 50257, 250000];
const BATCH_ELEMENTS = 2 ** 21;

await tf.setBackend('cpu');
await tf.ready();

/** Reproducible N(0, σ²) logits (mulberry32 + Box–Muller), like a language model's. */
function makeLogits(count, sigma, seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = sigma * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

/** (a) The plain two-pass loop: per row, the maximum, then Σ exp(z − m). */
function twoPassNaive(input, rows, classes) {
  let sink = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let m = input[base];
    for (let c = 1; c < classes; c++) {
      const v = input[base + c];
      if (v > m) m = v;
    }
    let s = 0;
    for (let c = 0; c < classes; c++) s += Math.exp(input[base + c] - m);
    sink += s;
  }
  return sink;
}

/** (a) The same with Neumaier's compensated sum, as the kernel's loop was before the table-driven exp. */
function twoPassCompensated(input, rows, classes) {
  let sink = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let m = input[base];
    for (let c = 1; c < classes; c++) {
      const v = input[base + c];
      if (v > m) m = v;
    }
    let s = 0;
    let e = 0;
    for (let c = 0; c < classes; c++) {
      const x = Math.exp(input[base + c] - m);
      const t = s + x;
      e += s >= x ? s - t + x : x - t + s;
      s = t;
    }
    sink += s + e;
  }
  return sink;
}

/** (d) Two passes with the table-driven exp in JavaScript: max and arg-max, then the fused compensated sum. */
function twoPassTableJs(input, rows, classes) {
  let sink = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let m = input[base];
    let k = 0;
    for (let c = 1; c < classes; c++) {
      const v = input[base + c];
      if (v > m) {
        m = v;
        k = c;
      }
    }
    sink += sumExpShiftedJs(input, base, classes, m, k);
  }
  return sink;
}

/** Elements/s of one measurement: passes over the batch until MIN_SECONDS have passed. */
function measure(run, elements) {
  let passes = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    run();
    passes++;
    elapsed = (performance.now() - start) / 1000;
  } while (elapsed < MIN_SECONDS);
  return (passes * elements) / elapsed;
}

function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const SERIES = ['baseline-naive', 'baseline-compensated', 'kernel', 'tfjs-cpu', 'table-exp-js'];
const results = [];
const loadBefore = os.loadavg();

for (const classes of CLASSES) {
  const rows = Math.max(1, Math.floor(BATCH_ELEMENTS / classes));
  const elements = rows * classes;
  const input = makeLogits(elements, 3, classes);
  const labels = new Float64Array(rows);
  for (let r = 0; r < rows; r++) labels[r] = (r * 7919) % classes;
  const task = {
    kind: 'logits',
    rows,
    classes,
    input,
    labels,
    targets: null,
    classWeights: null,
    sampleWeights: null,
    renormalize: false,
    mask: null,
    ignoreIndex: -100,
    labelSmoothing: 0,
    epsilon: 0,
    unit: 'nats',
  };
  // tfjs computes in float32: the same logits, rounded once; the one-hot labels are built outside the timing.
  const logitsTensor = tf.tensor2d(Float32Array.from(input), [rows, classes]);
  const oneHot = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes);
  const tfjsLosses = () =>
    tf.tidy(() => tf.losses.softmaxCrossEntropy(oneHot, logitsTensor, undefined, 0, tf.Reduction.NONE).dataSync());

  let sink = 0;
  const runs = {
    'baseline-naive': () => (sink += twoPassNaive(input, rows, classes)),
    'baseline-compensated': () => (sink += twoPassCompensated(input, rows, classes)),
    kernel: () => (sink += crossEntropyRows(task).sumHigh),
    'tfjs-cpu': () => (sink += tfjsLosses()[0]),
    'table-exp-js': () => (sink += twoPassTableJs(input, rows, classes)),
  };

  // How far tfjs's float32 losses are from ours (float64, within 1e-13 of exact): context for the comparison.
  const ours = crossEntropyRows(task).losses;
  const theirs = tfjsLosses();
  let tfjsMaxRelativeDifference = 0;
  for (let r = 0; r < rows; r++) {
    tfjsMaxRelativeDifference = Math.max(tfjsMaxRelativeDifference, Math.abs(theirs[r] - ours[r]) / ours[r]);
  }

  for (const name of SERIES) measure(runs[name], elements); // warm-up: optimised code, WebAssembly tiered up
  const samples = Object.fromEntries(SERIES.map((name) => [name, []]));
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const name of SERIES) samples[name].push(measure(runs[name], elements));
  }
  logitsTensor.dispose();
  oneHot.dispose();

  const medians = Object.fromEntries(SERIES.map((name) => [name, median(samples[name])]));
  // The same ratio within each repeat (the series of one repeat run back to back): its spread shows the noise.
  const paired = (other) => {
    const each = samples.kernel.map((v, i) => v / samples[other][i]);
    return { min: Math.min(...each), max: Math.max(...each) };
  };
  results.push({
    classes,
    rows,
    elements,
    elementsPerSecond: medians,
    samples,
    ratios: {
      kernelOverBaselineNaive: medians.kernel / medians['baseline-naive'],
      kernelOverBaselineCompensated: medians.kernel / medians['baseline-compensated'],
      kernelOverTfjs: medians.kernel / medians['tfjs-cpu'],
    },
    ratioRangeWithinRepeats: {
      kernelOverBaselineNaive: paired('baseline-naive'),
      kernelOverBaselineCompensated: paired('baseline-compensated'),
      kernelOverTfjs: paired('tfjs-cpu'),
    },
    tfjsMaxRelativeDifference,
    sink,
  });
}

const report = {
  what: 'cross-entropy kernel throughput, elements (logits) per second, median of interleaved repeats',
  command: `npm run build && node bench/kernel.mjs${quick ? ' --quick' : ''}`,
  date: new Date().toISOString(),
  machine: {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    loadAverageBefore: loadBefore,
    loadAverageAfter: os.loadavg(),
  },
  versions: {
    tfjsCore: require('@tensorflow/tfjs-core/package.json').version,
    tfjsBackendCpu: require('@tensorflow/tfjs-backend-cpu/package.json').version,
  },
  sumExpBackend: sumExpBackend(),
  minSecondsPerMeasurement: MIN_SECONDS,
  repeats: REPEATS,
  series: {
    'baseline-naive': 'two-pass loop: max, then s += Math.exp(z - m)',
    'baseline-compensated': 'two-pass loop: max, then Neumaier-compensated sum of Math.exp(z - m)',
    kernel: 'crossEntropyRows on logits + labels (max and arg-max, fused WebAssembly SIMD exp-sum, log1p, losses)',
    'tfjs-cpu': 'tf.losses.softmaxCrossEntropy(oneHot, logits, undefined, 0, Reduction.NONE).dataSync(), float32',
    'table-exp-js': 'two-pass loop with the table-driven exp in plain JavaScript (sumExpShiftedJs), no WebAssembly',
  },
  results: results.map(({ sink: _sink, ...rest }) => rest),
};

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/kernel.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

const mega = (v) => (v / 1e6).toFixed(1).padStart(8);
const times = (v) => `${v.toFixed(2)}×`.padStart(9);
const range = ({ min, max }) => `${min.toFixed(2)}–${max.toFixed(2)}`.padStart(10);
const { cpu, cores, loadAverageAfter } = report.machine;
console.log(`${cpu}, ${cores} cores, Node ${process.version}, exp-sum backend: ${report.sumExpBackend}`);
console.log(`M elements/s, median of ${REPEATS} interleaved repeats of ≥ ${MIN_SECONDS} s; b/x = kernel / x`);
const head = (...names) => names.map((name) => name.padStart(8)).join(' ');
console.log(
  `${head('C', 'rows')} | ${head('naive a', 'comp. a', 'kernel b', 'tfjs c', 'js-table')} |` +
    ` ${head('b/a naive')} ${'(range)'.padStart(10)} ${head('b/a comp', 'b/c')} | tfjs Δrel`,
);
for (const r of results) {
  const e = r.elementsPerSecond;
  const within = r.ratioRangeWithinRepeats;
  console.log(
    `${String(r.classes).padStart(8)} ${String(r.rows).padStart(8)} |` +
      ` ${mega(e['baseline-naive'])} ${mega(e['baseline-compensated'])} ${mega(e.kernel)} ${mega(e['tfjs-cpu'])}` +
      ` ${mega(e['table-exp-js'])} |` +
      ` ${times(r.ratios.kernelOverBaselineNaive)} ${range(within.kernelOverBaselineNaive)}` +
      ` ${times(r.ratios.kernelOverBaselineCompensated)} ${times(r.ratios.kernelOverTfjs)} |` +
      ` ${r.tfjsMaxRelativeDifference.toExponential(1)}`,
  );
}
const loads = (l) => l.map((v) => v.toFixed(2)).join(' ');
console.log(`load average before ${loads(loadBefore)}, after ${loads(loadAverageAfter)}`);
console.log('wrote bench/results/kernel.json');
