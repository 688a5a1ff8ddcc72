// Deterministic request bodies for the HTTP benchmark, and the reference cost each should produce.
//
// Logits are drawn from a seeded PRNG (mulberry32 + Box-Muller, N(0, 3^2)) and rounded to 6 significant digits, the
// way a model's output is usually printed; the Float64Array holds exactly the doubles JSON.parse reads back from the
// body, so the reference cost is computed on the same numbers the server sees.

import { Buffer } from 'node:buffer';

/**
 * mulberry32: a tiny 32-bit PRNG with a full period, good enough for benchmark data and identical on every machine.
 * https://gist.github.com/tommyettinger/46a874533244883189143505d203312c
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Logits N x C (row-major, 6 significant digits) and N labels in [0, C), the same for the same seed. */
export function makeLogits(n, c, seed) {
  const random = mulberry32(seed);
  const logits = new Float64Array(n * c);
  for (let i = 0; i < logits.length; i += 2) {
    // Box-Muller: two independent normals from two uniforms; 1 - u keeps the log's argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - random())) * 3;
    const theta = 2 * Math.PI * random();
    logits[i] = Number((r * Math.cos(theta)).toPrecision(6));
    if (i + 1 < logits.length) logits[i + 1] = Number((r * Math.sin(theta)).toPrecision(6));
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(random() * c);
  return { n, c, logits, labels };
}

/** `{"logits": [[...], ...], "labels": [...]}` as bytes; every number printed in its shortest round-trip form. */
export function scoreJsonBody({ n, c, logits, labels }) {
  const rows = new Array(n);
  const row = new Array(c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) row[j] = String(logits[i * c + j]);
    rows[i] = `[${row.join(',')}]`;
  }
  return Buffer.from(`{"logits":[${rows.join(',')}],"labels":[${Array.from(labels).join(',')}]}`, 'utf8');
}

/**
 * An Open Inference Protocol v2 request with Triton's binary tensor data extension: the JSON header, then the
 * logits as little-endian `datatype` (FP64, or FP32: the logits have 6 significant digits, which float32 keeps to
 * ~1e-7 relative) and the labels as INT64, asking for the cost only. Returns the body, its headers and, for FP32, the
 * logits as the server reads them (rounded to float32), for the reference cost.
 */
export function oipBinaryBody({ n, c, logits, labels }, datatype = 'FP64') {
  const width = datatype === 'FP32' ? 4 : 8;
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'logits', shape: [n, c], datatype, parameters: { binary_data_size: n * c * width } },
        { name: 'labels', shape: [n], datatype: 'INT64', parameters: { binary_data_size: n * 8 } },
      ],
      outputs: [{ name: 'cost' }],
    }),
    'utf8',
  );
  const tensors = Buffer.alloc(n * c * width + n * 8);
  for (let i = 0; i < n * c; i++) {
    if (width === 4) tensors.writeFloatLE(logits[i], i * 4);
    else tensors.writeDoubleLE(logits[i], i * 8);
  }
  for (let i = 0; i < n; i++) tensors.writeBigInt64LE(BigInt(labels[i]), n * c * width + i * 8);
  return {
    body: Buffer.concat([header, tensors]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    sent: { n, c, labels, logits: width === 4 ? Float64Array.from(Float32Array.from(logits)) : logits },
  };
}

/** Mean cross-entropy by the textbook two-pass log-sum-exp, in float64: what every server should answer. */
export function referenceCost({ n, c, logits, labels }) {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const base = i * c;
    let max = -Infinity;
    for (let j = 0; j < c; j++) if (logits[base + j] > max) max = logits[base + j];
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(logits[base + j] - max);
    sum += Math.log(s) + max - logits[base + labels[i]];
  }
  return sum / n;
}
