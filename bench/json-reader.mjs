// Parse cost of a large JSON body, in one run:
//   (a) what the worker did so far: TextDecoder → JSON.parse → decodeScoreRequest (builds JS arrays, then copies them
//       into Float64Arrays);
//   (b) readScoreRequest (src/codec/json/fastReader.ts): one pass over the bytes straight into Float64Arrays;
//   (c) what the worker does with (b) wired in: readScoreRequest ?? JSON.parse + decodeScoreRequest — the same as (b)
//       whenever (b) accepts, listed to show the fallback costs nothing when it is not needed.
// on 8 × 50257, 64 × 32000 and 32 × 1000 logits + labels, with the numbers printed three ways:
//   full    JSON.stringify of random doubles N(0, 3²): the shortest round-trip form, mostly 16–17 significant digits
//   fixed6  toFixed(6): 7–8 significant digits, as many exporters write them
//   prec6   toPrecision(6): the payloads of bench/run.mjs (bench/payloads.mjs)
// Each body is checked first: (b) must accept it and give bit-identical Float64Arrays to (a). Then (a), (b) and (c)
// are timed interleaved (a b c a b c …, so drift on a shared machine hits all alike) for at least ROUNDS rounds and
// 3 × MIN_MS per body, after 3 warm-up rounds; the figures are medians. MB/s counts the body's bytes.
//
// Usage: npm run build && node bench/json-reader.mjs [--quick] [--json=<file>]
import { Buffer } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { decodeScoreRequest } from '../dist/codec/json/decode.js';
import { readScoreRequest } from '../dist/codec/json/fastReader.js';
import { makeLogits, mulberry32, scoreJsonBody } from './payloads.mjs';

const quick = process.argv.includes('--quick');
const jsonOut = process.argv.find((a) => a.startsWith('--json='))?.slice('--json='.length);
const ROUNDS = quick ? 5 : 15;
const MIN_MS = quick ? 200 : 1500;
const limits = { maxElements: 16_000_000 };
const utf8 = new TextDecoder();

const SHAPES = [
  [8, 50257],
  [64, 32000],
  [32, 1000],
];

/** N(0, 3²) logits, printed by `print`, and labels, as the bytes of `{"logits": [...], "labels": [...]}`. */
function body(n, c, seed, print) {
  const random = mulberry32(seed);
  const rows = new Array(n);
  const row = new Array(c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()) * 3;
      row[j] = print(z);
    }
    rows[i] = `[${row.join(',')}]`;
  }
  const labels = Array.from({ length: n }, () => Math.floor(random() * c));
  return Buffer.from(`{"logits":[${rows.join(',')}],"labels":[${labels.join(',')}]}`, 'utf8');
}

const FORMATS = {
  full: (n, c) => body(n, c, 1, (z) => JSON.stringify(z)),
  fixed6: (n, c) => body(n, c, 2, (z) => z.toFixed(6)),
  prec6: (n, c) => scoreJsonBody(makeLogits(n, c, 3)),
};

const viaJsonParse = (bytes) => decodeScoreRequest(JSON.parse(utf8.decode(bytes)), limits);
const viaReader = (bytes) => readScoreRequest(bytes, limits);
const viaWorkerPath = (bytes) => readScoreRequest(bytes, limits) ?? decodeScoreRequest(JSON.parse(utf8.decode(bytes)), limits);

function sameBits(x, y) {
  if (x.length !== y.length) return false;
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length * 2);
  const b = new Uint32Array(y.buffer, y.byteOffset, y.length * 2);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function median(xs) {
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function timeOnce(fn, bytes) {
  const t0 = performance.now();
  const r = fn(bytes);
  const t1 = performance.now();
  if (r === null || r.task.input.length === 0) throw new Error('no result');
  return t1 - t0;
}

const results = [];
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const loadBefore = load();
console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.availableParallelism()}, load average ${loadBefore}`);
console.log(`medians of ≥ ${ROUNDS} interleaved runs${quick ? ' (quick)' : ''}\n`);
console.log(
  `${'body'.padEnd(16)} ${'MB'.padStart(6)} ${'digits'.padStart(6)} │ ${'JSON.parse+decode'.padStart(22)} │ ${'readScoreRequest'.padStart(22)} │ ${'worker path'.padStart(9)} │ speed-up`,
);
for (const [n, c] of SHAPES) {
  for (const [format, make] of Object.entries(FORMATS)) {
    const bytes = make(n, c);
    const mb = bytes.length / 1e6;
    const a = viaJsonParse(bytes);
    const b = viaReader(bytes);
    if (b === null) throw new Error(`${n}x${c} ${format}: readScoreRequest declined the body`);
    if (!sameBits(a.task.input, b.task.input) || !sameBits(a.task.labels, b.task.labels)) {
      throw new Error(`${n}x${c} ${format}: results differ`);
    }
    const text = utf8.decode(bytes);
    const numbers = text.match(/-?\d[\d.e+-]*/g).slice(0, 2000);
    const digits = numbers.reduce((s, t) => s + t.replace(/^-|e.*$/g, '').replace('.', '').replace(/^0+/, '').length, 0) / numbers.length;

    // Warm up both, then interleave.
    for (let i = 0; i < 3; i++) {
      viaJsonParse(bytes);
      viaReader(bytes);
      viaWorkerPath(bytes);
    }
    const ta = [];
    const tb = [];
    const tc = [];
    const started = performance.now();
    while (ta.length < ROUNDS || performance.now() - started < 3 * MIN_MS) {
      ta.push(timeOnce(viaJsonParse, bytes));
      tb.push(timeOnce(viaReader, bytes));
      tc.push(timeOnce(viaWorkerPath, bytes));
    }
    const ma = median(ta);
    const mbb = median(tb);
    const mc = median(tc);
    const row = {
      body: `${n}x${c}`,
      format,
      bytes: bytes.length,
      numbers: n * c + n,
      meanSignificantDigits: Number(digits.toFixed(1)),
      runs: ta.length,
      jsonParse: { ms: ma, mbPerS: mb / (ma / 1e3) },
      reader: { ms: mbb, mbPerS: mb / (mbb / 1e3) },
      workerPath: { ms: mc, mbPerS: mb / (mc / 1e3) },
      speedUp: ma / mbb,
    };
    results.push(row);
    const cell = (x) => `${x.ms.toFixed(2).padStart(7)} ms ${x.mbPerS.toFixed(0).padStart(5)} MB/s`;
    console.log(
      `${`${n}×${c} ${format}`.padEnd(16)} ${mb.toFixed(2).padStart(6)} ${digits.toFixed(1).padStart(6)} │ ${cell(row.jsonParse).padStart(22)} │ ${cell(row.reader).padStart(22)} │ ${`${mc.toFixed(2)} ms`.padStart(9)} │ ${row.speedUp.toFixed(2)}×`,
    );
  }
}

console.log(`\nload average ${load()} at the end (other processes share these cores: compare the columns, not runs)`);

if (jsonOut !== undefined) {
  writeFileSync(
    jsonOut,
    `${JSON.stringify({ node: process.version, cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), loadAverage: { before: loadBefore, after: load() }, command: process.argv.slice(1).join(' '), results }, null, 2)}\n`,
  );
}
