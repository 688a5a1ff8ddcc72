import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeScoreRequest } from '../../src/codec/json/decode.js';
import type { DecodedTask as DecodedScoreRequest } from '../../src/codec/task.js';
import { readScoreRequest } from '../../src/codec/json/fastReader.js';
import { mulberry32 as prng } from '../random.mjs';

// The reader must give exactly what JSON.parse + decodeScoreRequest give, or null. Every expectation below is taken
// from JSON.parse (V8's correctly rounded string-to-double) and decodeScoreRequest, never from the reader's own code.

const LIMITS = { maxElements: 16_000_000 };
const utf8 = new TextEncoder();

/** What the worker falls back to: the reference result, or null when JSON.parse or decodeScoreRequest throws. */
function reference(text: string, limits = LIMITS): DecodedScoreRequest | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  try {
    return decodeScoreRequest(body, limits);
  } catch {
    return null;
  }
}

function sameBits(a: Float64Array | null, b: Float64Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length || a.buffer.byteLength !== b.buffer.byteLength) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length * 2);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Equal field by field, every typed array bit for bit (so -0 ≠ 0) and no larger than decodeScoreRequest's. */
function sameDecoded(a: DecodedScoreRequest, b: DecodedScoreRequest): boolean {
  const { input, labels, targets, classWeights, ...options } = a.task;
  const { input: input2, labels: labels2, targets: targets2, classWeights: classWeights2, ...options2 } = b.task;
  return (
    sameBits(input, input2) &&
    sameBits(labels, labels2) &&
    sameBits(targets, targets2) &&
    sameBits(classWeights, classWeights2) &&
    Object.entries(options).every(([k, v]) => Object.is(v, options2[k as keyof typeof options2])) &&
    Object.keys(a.task).join() === Object.keys(b.task).join() &&
    JSON.stringify({ ...a, task: null }) === JSON.stringify({ ...b, task: null })
  );
}

function expectSame(text: string, limits = LIMITS): void {
  const expected = reference(text, limits);
  expect(expected, 'the reference accepts the body').not.toBeNull();
  const got = readScoreRequest(utf8.encode(text), limits);
  expect(got, `the reader accepts ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`).not.toBeNull();
  if (expected!.task.input.length < 10_000) expect(got).toEqual(expected); // structure, with a readable diff
  expect(sameDecoded(got!, expected!)).toBe(true); // and bit for bit
}


const bits = new DataView(new ArrayBuffer(8));
function doubleOfBits(high: number, low: number): number {
  bits.setUint32(0, high >>> 0);
  bits.setUint32(4, low >>> 0);
  return bits.getFloat64(0);
}

/** Mantissa and exponent of a positive finite double: x = m · 2^e exactly, m < 2^53. */
function decompose(x: number): { m: bigint; e: number } {
  bits.setFloat64(0, x);
  const high = bits.getUint32(0);
  const low = bits.getUint32(4);
  const biased = (high >>> 20) & 0x7ff;
  const fraction = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  return biased === 0 ? { m: fraction, e: -1074 } : { m: fraction | (1n << 52n), e: biased - 1075 };
}

/** The exact decimal value of (2m + 1) · 2^(e − 1), the midpoint between m · 2^e and its successor: digits, exponent. */
function midpoint(x: number): { digits: string; exponent: number } {
  const { m, e } = decompose(x);
  const odd = 2n * m + 1n;
  if (e - 1 >= 0) return { digits: (odd << BigInt(e - 1)).toString(), exponent: 0 };
  return { digits: (odd * 5n ** BigInt(1 - e)).toString(), exponent: e - 1 };
}

/** digits × 10^exponent in a random JSON form (point placement, e or E, explicit + on the exponent). */
function decimal(random: () => number, sign: string, digits: string, exponent: number): string {
  const point = Math.floor(random() * (digits.length + 1)); // digits before the point
  const intPart = point === 0 ? '0' : digits.slice(0, point); // digits never start with 0
  const fraction = digits.slice(point);
  // value = 0.fraction-part scaled: digits × 10^exponent = intPart.fraction × 10^(exponent + fraction.length)
  const e = exponent + fraction.length;
  const mantissa = fraction.length > 0 ? `${intPart}.${fraction}` : intPart;
  if (e === 0 && random() < 0.5) return `${sign}${mantissa}`;
  const marker = random() < 0.8 ? 'e' : 'E';
  const plus = e >= 0 && random() < 0.3 ? '+' : '';
  return `${sign}${mantissa}${marker}${plus}${e}`;
}

/** Shortest-first digit strings cut to n significant digits, rounded half up at the cut, then nudged by ±1. */
function nearMidpoint(random: () => number, x: number): string {
  const { digits, exponent } = midpoint(x);
  const sign = random() < 0.5 ? '-' : '';
  const kind = random();
  if (kind < 0.25 || digits.length <= 15) return decimal(random, sign, digits, exponent); // the exact midpoint
  const n = 15 + Math.floor(random() * Math.min(digits.length - 15, 6)); // 15 to 20 significant digits
  let cut = BigInt(digits.slice(0, n));
  if (Number(digits[n]) >= 5) cut += 1n;
  cut += BigInt(Math.floor(random() * 3) - 1);
  return decimal(random, sign, cut.toString(), exponent + digits.length - n);
}

/** The convergents K/M of the continued fraction of A/B: the best rational approximations, |M · A/B − K| < 1/M'. */
function* convergents(a: bigint, b: bigint): Generator<[bigint, bigint]> {
  let [h2, h1, k2, k1] = [0n, 1n, 1n, 0n];
  while (b !== 0n) {
    const t = a / b;
    [a, b] = [b, a - t * b];
    [h2, h1] = [h1, t * h1 + h2];
    [k2, k1] = [k1, t * k1 + k2];
    yield [h1, k1];
  }
}

/**
 * The hardest inputs for a decimal-to-double reader: decimals M · 10^q of 16 to 19 digits that lie within about
 * 1/M of a unit of the 54th bit of an odd multiple of half an ulp, i.e. astonishingly close to a halfway point
 * between two doubles (some within 2^-60 ulp). With β = 10^q / 2^(p−53), M · β ≈ K for an odd K in [2^53, 2^54) means
 * M · 10^q ≈ K · 2^(p−53), a midpoint in the binade [2^p, 2^(p+1)); the convergents of β give such M.
 */
function nearHalfwayDecimals(): string[] {
  const out: string[] = [];
  for (let p = -1020; p <= 1020; p++) {
    for (const n of [16, 17, 18, 19]) {
      const lo = 10n ** BigInt(n - 1);
      const hi = 10n ** BigInt(n);
      const q0 = Math.floor(p * Math.log10(2)) - (n - 1);
      for (const q of [q0 - 1, q0, q0 + 1]) {
        const s = p - 53;
        const a = (q >= 0 ? 10n ** BigInt(q) : 1n) * (s < 0 ? 2n ** BigInt(-s) : 1n);
        const b = (q < 0 ? 10n ** BigInt(-q) : 1n) * (s >= 0 ? 2n ** BigInt(s) : 1n);
        for (const [k, m] of convergents(a, b)) {
          if (m >= hi) break;
          if (m === 0n || (k & 1n) === 0n) continue;
          let j = (lo + m - 1n) / m; // odd multiples keep K odd and bring M to n digits
          if ((j & 1n) === 0n) j += 1n;
          for (let t = 0; t < 2; t++, j += 2n) {
            if (j * m < hi && j * k >= 2n ** 53n && j * k < 2n ** 54n) out.push(`${j * m}e${q}`);
          }
        }
      }
    }
  }
  return out;
}

const SPECIALS = [
  '0', '-0', '0.0', '-0.0', '0e5', '-0E-5', '0.000e+0', '-0.000000000000000000000000000',
  '9007199254740993', '9007199254740992', '9007199254740994', '9007199254740995', '18014398509481985',
  '4503599627370496.5', '4503599627370497.5', '2251799813685248.25', '1125899906842624.125',
  '2.2250738585072011e-308', '2.2250738585072012e-308', '2.2250738585072014e-308', '2.225073858507201e-308',
  '5e-324', '4.9406564584124654e-324', '2.4703282292062327e-324', '2.4703282292062328e-324', '1e-400', '-1e-400',
  '1.7976931348623157e308', '1.7976931348623158e308', '1.7976931348623157E+308', '8.98846567431158e307',
  '0.1', '0.2', '0.3', '1e23', '1e22', '1e-22', '1e-23', '8.589973e9', '123456789012345678901234567890',
  '1.00000000000000011102230246251565404236316680908203125', '1.00000000000000011102230246251565404236316680908203124',
  '1.00000000000000011102230246251565404236316680908203126', '7.038531e-26', '3.0517578125e-05',
  (2n ** 1024n - 2n ** 970n - 1n).toString(), // just below halfway from the largest double to 2^1024: rounds down
  '2.' + '0'.repeat(400) + '1', '0.' + '0'.repeat(300) + '5', '1' + '0'.repeat(308), '1e0000000000000000000000000000000000003',
  '1e-0000000000000000000000000000000000003', '12345678901234567890e-30', '98765432109876543210987654321e-300',
];

/** More than two million finite JSON numbers, random and adversarial, in a fixed order. */
function numberStrings(): string[] {
  const random = prng(20_261_128);
  const out: string[] = [];
  const push = (s: string) => {
    if (Number.isFinite(Number(s))) out.push(s);
  };
  for (let i = 0; i < 1000; i++) for (const s of SPECIALS) push(s);
  for (const s of nearHalfwayDecimals()) {
    push(s);
    push(`-${s.replace('e', '.0E')}`);
  }
  // Doubles from random bit patterns: every binade, subnormals included, in their shortest round-trip form.
  for (let i = 0; i < 600_000; i++) {
    const x = doubleOfBits(random() * 2 ** 32, random() * 2 ** 32);
    if (Number.isFinite(x)) push(JSON.stringify(x));
  }
  // Logits as models and exporters print them.
  for (let i = 0; i < 500_000; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const scale = [1e-3, 1, 3, 30, 1e4][i % 5]!;
    const x = z * scale;
    const form = i % 10;
    push(form < 6 ? JSON.stringify(x) : form < 8 ? x.toFixed(6) : x.toPrecision(1 + Math.floor(random() * 21)));
  }
  // Random digit strings of 1 to 25 digits with a decimal exponent in [-330, 330].
  for (let i = 0; i < 550_000; i++) {
    const n = 1 + Math.floor(random() * 25);
    let digits = String(1 + Math.floor(random() * 9));
    while (digits.length < n) digits += String(Math.floor(random() * 10));
    if (random() < 0.2) digits = digits[0] + digits.slice(1).replace(/\d{1,6}$/, (t) => '0'.repeat(t.length)); // trailing zeros
    push(decimal(random, random() < 0.5 ? '-' : '', digits, Math.floor(random() * 661) - 330 - (n - 1)));
  }
  // Exact and nearly exact halfway points between neighbouring doubles, cut to 15–20 digits.
  for (let i = 0; i < 160_000; i++) {
    let x: number;
    const kind = i % 4;
    if (kind === 0) x = doubleOfBits(random() * 2 ** 32, random() * 2 ** 32); // anywhere
    else if (kind === 1) x = 2 ** (Math.floor(random() * 1700) - 850) * (1 + random()); // ±10^255: the double-double range
    else if (kind === 2) x = (2 ** 52 + Math.floor(random() * 2 ** 52)) * 2 ** (Math.floor(random() * 20) - 10); // short midpoints
    else x = (1 + random()) * 2 ** (Math.floor(random() * 120) - 60); // around 1, like logits
    x = Math.abs(x);
    if (x > 0 && x < Number.MAX_VALUE) push(nearMidpoint(random, x));
  }
  return out;
}

describe('readScoreRequest - numbers', () => {
  it('rounds more than two million random and adversarial decimals exactly as JSON.parse, in request bodies', () => {
    const strings = numberStrings();
    expect(strings.length).toBeGreaterThan(2_000_000);
    const ROW = 1000;
    const ROWS_PER_BODY = 100;
    const separators = [',', ', ', ' ,\n\t', ',\r\n  '];
    let checked = 0;
    const mismatches: string[] = [];
    for (let start = 0, body = 0; start < strings.length; start += ROW * ROWS_PER_BODY, body++) {
      const chunk = strings.slice(start, start + ROW * ROWS_PER_BODY);
      const rows: string[] = [];
      const sep = separators[body % separators.length]!;
      for (let r = 0; r < chunk.length; r += ROW) rows.push(`[${chunk.slice(r, r + ROW).join(sep)}]`);
      // Keep the tensor rectangular: pad the last row with copies of its first number.
      const lastRow = chunk.slice(Math.floor((chunk.length - 1) / ROW) * ROW);
      if (lastRow.length < ROW) {
        rows[rows.length - 1] = `[${[...lastRow, ...Array<string>(ROW - lastRow.length).fill(lastRow[0]!)].join(sep)}]`;
      }
      const text = `{"logits":[${rows.join(sep)}],"labels":[${rows.map(() => '0').join(',')}]}`;
      const got = readScoreRequest(utf8.encode(text), LIMITS);
      const expected = decodeScoreRequest(JSON.parse(text), LIMITS);
      expect(got, `body ${body} accepted`).not.toBeNull();
      const a = got!.task.input;
      const b = expected.task.input;
      expect(a.length).toBe(b.length);
      for (let i = 0; i < chunk.length; i++) {
        if (!Object.is(a[i], b[i]) && mismatches.length < 10) {
          mismatches.push(`${chunk[i]}: JSON.parse ${b[i]}, reader ${a[i]}`);
        }
      }
      if (!sameBits(a, b) && mismatches.length === 0) mismatches.push(`body ${body}: the arrays differ`);
      checked += chunk.length;
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBe(strings.length);
  }, 120_000); // ~8 s on a quiet machine; generous for a shared one

  it('declines numbers outside the float64 range and text that is not a JSON number', () => {
    const bad = [
      '1e400', '-1e400', '1.7976931348623159e308', '1' + '0'.repeat(309), '1e99999999999999999999',
      '01', '-01', '00', '-', '+1', '.5', '-.5', '1.', '1.e5', '1e', '1e+', '1e-', '1E', '--1', '1..2', '1.2.3', '0x10',
      (2n ** 1024n - 2n ** 970n).toString(), // halfway to 2^1024: rounds to even, which overflows
      'NaN', 'Infinity', '-Infinity', '1e5e5', '1-2', '1+2', '١', '1_000', '0b1', 'true', 'null', '"1"', '[1]', '',
    ];
    for (const s of bad) {
      const text = `{"logits":[[0.5,${s},0.25]],"labels":[0]}`;
      expect(reference(text), s).toBeNull();
      expect(readScoreRequest(utf8.encode(text), LIMITS), s).toBeNull();
    }
  });

  it('megabyte-long numbers with seven-digit exponents - the exponent is not cut short', () => {
    // 1 followed by a million zeros, times 10^-10000000: underflows to 0, where a capped exponent would give 10.
    expectSame(`{"logits":[[1${'0'.repeat(1_000_000)}e-10000000,2]],"labels":[0]}`);
    // A million fraction digits times 10^10000001: overflows, where a capped exponent would give 1.
    const huge = `{"logits":[[0.${'0'.repeat(999_999)}1e10000001,2]],"labels":[0]}`;
    expect(reference(huge)).toBeNull();
    expect(readScoreRequest(utf8.encode(huge), LIMITS)).toBeNull();
    expectSame(`{"logits":[[1${'0'.repeat(400)}e-400,-${'9'.repeat(30)}e-20]],"labels":[0]}`);
  });

  it('reads a number at the very end of a row, before a bracket, a comma or blanks', () => {
    for (const s of ['1', '-0', '1e5', '1.5', '0', '12345678901234567890', '1E-2']) {
      expectSame(`{"logits":[[${s}],[${s}]],"labels":[0,0]}`);
      expectSame(`{"logits":[[${s},${s}]],"labels":[0]}`);
      expectSame(`{"logits":[[ ${s} ,\n${s}\t]\r\n]\n,"labels":[0]}`);
    }
  });
});

describe('readScoreRequest - requests', () => {
  const valid: Array<[string, unknown]> = [
    ['2-D logits and labels', { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] }],
    ['a single element', { logits: [[5]], labels: [0] }],
    ['3-D logits, 2-D labels', { logits: [[[0, 0], [1, 1]], [[0, 0], [5, 5]], [[3, 3], [0, 0]]], labels: [[0, -100], [1, 0], [-100, -100]] }],
    ['4-D logits', { logits: [[[[0, 0]], [[0, 0]]]], labels: [[[1], [0]]] }],
    ['probabilities and targets in bits', { probabilities: [[0.5, 0.25, 0.25]], targets: [[0, 0.5, 0.5]], unit: 'bits' }],
    ['logits and targets', { logits: [[1, 2, 3], [-1, -2, -3]], targets: [[0.2, 0.3, 0.5], [1, 0, 0]] }],
    [
      'every option with labels',
      { logits: [[1, 2, 3], [3, 2, 1]], labels: [2, 7], class_weights: [1, 2, 0.5], ignore_index: 7, label_smoothing: 0.1, unit: 'nats' },
    ],
    ['epsilon with probabilities', { probabilities: [[0.9, 0.1], [0, 1]], labels: [0, 1], epsilon: 1e-7, label_smoothing: 0 }],
    ['fields in another order', { unit: 'bits', labels: [1], class_weights: [3, 4], logits: [[1e-300, -1e300]] }],
    ['label values decodeScoreRequest leaves to the kernel', { logits: [[1, 2]], labels: [1.5] }],
    ['negative zero and extremes', { logits: [[-0, 0, 5e-324, -1.7976931348623157e308, 2.2250738585072014e-308]], labels: [0] }],
    ['ignore_index beyond int32', { logits: [[1, 2]], labels: [-9007199254740991], ignore_index: -9007199254740991 }],
  ];

  for (const [name, body] of valid) {
    it(`${name} - equals JSON.parse + decodeScoreRequest, compact and pretty-printed`, () => {
      expectSame(JSON.stringify(body));
      expectSame(JSON.stringify(body, null, 2));
      expectSame(JSON.stringify(body, null, '\t').replaceAll('\n', '\r\n'));
      expectSame(`\n\t ${JSON.stringify(body, null, 1).replaceAll(',', ' ,\n ').replaceAll(':', ' :\t')} \r\n`);
    });
  }

  it('numbers written in every JSON form - the same doubles as JSON.parse', () => {
    expectSame('{"logits":[[1E2,1e+2,-1E-2,0.0e0,-0,10,1.25E-0,123456789.123456789e-5]],"labels":[0]}');
    expectSame('{"logits":[[4503599627370496.5,9007199254740993,2.2250738585072011e-308,5e-324,1e23]],"labels":[0]}');
  });

  it('a wide row (8 × 50257) - equals JSON.parse + decodeScoreRequest', () => {
    const random = prng(7);
    const rows = Array.from({ length: 8 }, () => Array.from({ length: 50257 }, () => (random() - 0.5) * 20));
    expectSame(JSON.stringify({ logits: rows, labels: [1, 2, 3, 4, 5, 6, 7, 8], label_smoothing: 0.05 }));
  });

  it('a view into a larger buffer - reads only its own bytes', () => {
    const text = '{"logits":[[1.5,2]],"labels":[1]}';
    const inner = utf8.encode(text);
    const outer = new Uint8Array(inner.length + 20).fill(0x39); // '9' on both sides
    outer.set(inner, 10);
    const view = outer.subarray(10, 10 + inner.length);
    expect(sameDecoded(readScoreRequest(view, LIMITS)!, reference(text)!)).toBe(true);
    expect(readScoreRequest(outer.subarray(10, 9 + inner.length), LIMITS)).toBeNull(); // the closing brace cut off
  });

  it('a long first row and short later ones - the array outgrows its estimate and is still exact', () => {
    const random = prng(11);
    const first = Array.from({ length: 2000 }, () => -random() * 1e-3);
    const rows = [first, ...Array.from({ length: 60 }, (_, i) => Array<number>(2000).fill(i % 3))];
    const text = JSON.stringify({ logits: rows, labels: rows.map(() => 0) });
    expectSame(text);
    expectSame(text, { maxElements: 61 * 2000 });
    expect(reference(text, { maxElements: 61 * 2000 - 1 })).toBeNull();
    expect(readScoreRequest(utf8.encode(text), { maxElements: 61 * 2000 - 1 })).toBeNull();
  });

  it('at the element limit - accepted; one over - declined', () => {
    const text = JSON.stringify({ logits: [[1, 2, 3], [4, 5, 6]], labels: [0, 1] });
    expectSame(text, { maxElements: 6 });
    expect(reference(text, { maxElements: 5 })).toBeNull();
    expect(readScoreRequest(utf8.encode(text), { maxElements: 5 })).toBeNull();
  });

  it('bodies JSON.parse or decodeScoreRequest reject - null', () => {
    const rejected = [
      '', ' ', '[]', 'null', '1', '"x"', '{}', '{"logits":[[1]]}', '{"labels":[0]}',
      '{"logits":[[1]],"labels":[0]', '{"logits":[[1]],"labels":[0]}}', '{"logits":[[1]],"labels":[0]}x',
      '{"logits":[[1]],"labels":[0],}', '{"logits":[[1]],,"labels":[0]}', "{'logits':[[1]],'labels':[0]}",
      '{"logits":[[1],],"labels":[0]}', '{"logits":[[1,]],"labels":[0]}', '{"logits":[[1]] "labels":[0]}',
      '{"logits":[[1]],"labels":[0],"probabilities":[[1]]}', '{"logits":[[1]],"labels":[0],"targets":[[1]]}',
      '{"logits":[1,2],"labels":[0]}', '{"logits":[],"labels":[]}', '{"logits":[[]],"labels":[0]}',
      '{"logits":[[1,2],[3]],"labels":[0,1]}', '{"logits":[[1],[2,3]],"labels":[0,1]}', '{"logits":[[1,[2]]],"labels":[0]}',
      '{"logits":[[[1]],[2]],"labels":[[0],0]}', '{"logits":[[1,2]],"labels":[0,1]}', '{"logits":[[1,2]],"labels":[[0]]}',
      '{"logits":[[1,2]],"labels":0}', '{"logits":[[1,2]],"targets":[[1]]}', '{"logits":[[1,2]],"targets":[1,0]}',
      '{"logits":[[1,2]],"labels":[0],"class_weights":[1]}', '{"logits":[[1,2]],"labels":[0],"class_weights":[[1,2]]}',
      '{"logits":[[1,2]],"labels":[0],"epsilon":0.1}', '{"probabilities":[[1]],"targets":[[1]],"ignore_index":1}',
      '{"logits":[[1]],"labels":[0],"ignore_index":1.5}', '{"logits":[[1]],"labels":[0],"label_smoothing":2}',
      '{"logits":[[1]],"labels":[0],"label_smoothing":-0.5}', '{"probabilities":[[1]],"labels":[0],"epsilon":0.6}',
      '{"logits":[[1]],"labels":[0],"unit":"bytes"}', '{"logits":[[1]],"labels":[0],"unit":1}',
      '{"logits":[[1]],"labels":[0],"unit":null}', '{"logits":[[1]],"labels":[0],"ignore_index":"1"}',
      '{"logits":[[1]],"labels":[0],"ignore_index":null}', '{"logits":[[1]],"labels":[0],"weights":[1]}',
      '{"logits":[[1]],"labels":[0],"__proto__":[1]}', '{"logits":[[1]],"labels":[0],"constructor":1}',
      '{"logits":[["1"]],"labels":[0]}', '{"logits":[[null]],"labels":[0]}', '{"logits":[[true]],"labels":[0]}',
      '{"logits":[[{}]],"labels":[0]}', '{"logits":[[1]],"labels":["0"]}', '{"logits":{"0":[1]},"labels":[0]}',
      '{"logits":"[[1]]","labels":[0]}', '{"logits":[[1]],"labels":[0],"unit":"nats\u0000"}',
      '{"logits":[[1]],"labels":[0],"unit":"nats}', '{"logits":[[1e999]],"labels":[0]}',
      '{"logits":[[1]],"labels":[0]}\u0000', '\u000b{"logits":[[1]],"labels":[0]}', '{"logits":[[1]],\u00a0"labels":[0]}',
    ];
    for (const text of rejected) {
      expect(reference(text), text).toBeNull();
      expect(readScoreRequest(utf8.encode(text), LIMITS), text).toBeNull();
    }
  });

  it('bodies the reader leaves to JSON.parse (escapes, duplicate keys, non-ASCII) - null, never a different answer', () => {
    const declined = [
      '{"logi\\u0074s":[[1]],"labels":[0]}', '{"logits":[[1]],"labels":[0],"unit":"\\u0062its"}',
      '{"logits":[[1]],"labels":[0],"labels":[0]}', '{"logits":[[9]],"logits":[[1]],"labels":[0]}',
      '\ufeff{"logits":[[1]],"labels":[0]}',
    ];
    for (const text of declined) {
      const bytes = utf8.encode(text);
      expect(reference(new TextDecoder().decode(bytes)), text).not.toBeNull(); // as the worker decodes: BOM dropped
      expect(readScoreRequest(bytes, LIMITS), text).toBeNull();
    }
  });
});

describe('readScoreRequest - properties', () => {
  const finite = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: -1000, max: 1000 }),
    fc.constantFrom(0, -0, 0.1, 1e-7, 5e-324, 2 ** 53 + 2, Number.MAX_VALUE, -Number.MIN_VALUE),
  );
  const request = fc
    .record({
      dims: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 4 }),
      probabilities: fc.boolean(),
      targets: fc.boolean(),
      weights: fc.boolean(),
      ignoreIndex: fc.option(fc.integer({ min: -200, max: 200 }), { nil: undefined }),
      labelSmoothing: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      epsilon: fc.option(fc.double({ min: 0, max: 0.5, noNaN: true }), { nil: undefined }),
      unit: fc.option(fc.constantFrom('nats', 'bits'), { nil: undefined }),
      seed: fc.integer(),
    })
    .chain((r) => {
      const count = r.dims.reduce((a, b) => a * b, 1);
      const classes = r.dims[r.dims.length - 1]!;
      const rows = count / classes;
      return fc.record({
        r: fc.constant(r),
        input: fc.array(finite, { minLength: count, maxLength: count }),
        truth: fc.array(r.targets ? finite : fc.integer({ min: -100, max: classes }), {
          minLength: r.targets ? count : rows,
          maxLength: r.targets ? count : rows,
        }),
        weights: fc.array(finite, { minLength: classes, maxLength: classes }),
      });
    })
    .map(({ r, input, truth, weights }) => {
      const nest = (flat: number[], dims: number[]): unknown => {
        if (dims.length === 1) return flat;
        const stride = flat.length / dims[0]!;
        return Array.from({ length: dims[0]! }, (_, i) => nest(flat.slice(i * stride, (i + 1) * stride), dims.slice(1)));
      };
      const body: Record<string, unknown> = {};
      body[r.probabilities ? 'probabilities' : 'logits'] = nest(input, r.dims);
      body[r.targets ? 'targets' : 'labels'] = nest(truth, r.targets ? r.dims : r.dims.slice(0, -1));
      if (r.weights) body.class_weights = weights;
      if (r.ignoreIndex !== undefined && !r.targets) body.ignore_index = r.ignoreIndex;
      if (r.labelSmoothing !== undefined) body.label_smoothing = r.labelSmoothing;
      if (r.epsilon !== undefined && r.probabilities) body.epsilon = r.epsilon;
      if (r.unit !== undefined) body.unit = r.unit;
      return body;
    });
  const indent = fc.constantFrom(undefined, 0, 1, 2, '\t', ' ');

  it('valid requests, compact or pretty-printed - accepted and equal to JSON.parse + decodeScoreRequest', () => {
    fc.assert(
      fc.property(request, indent, (body, space) => {
        const text = JSON.stringify(body, null, space);
        const expected = reference(text);
        expect(expected).not.toBeNull();
        const got = readScoreRequest(utf8.encode(text), LIMITS);
        expect(got).not.toBeNull();
        expect(sameDecoded(got!, expected!)).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  // Mutations of valid bodies: flip, insert or delete a byte, truncate, or splice in a token that often breaks things.
  const TOKENS = [
    '', ' ', '\n', ',', ':', '[', ']', '{', '}', '"', '\\', '-', '+', '.', 'e', 'E', '0', '1', '9', '00', '1e400',
    'null', 'true', '"x"', '[]', '[[', ']]', '\u00e9', '\ufeff', '\u0000', '\t', '\r', '/', 'x', '__proto__', '"unit":"bits",',
    '"labels":[0],', '"epsilon":0.1,', '"ignore_index":1,', '1.', '.5', '-0', '1e-400', '9007199254740993',
  ];
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), remove: fc.integer({ min: 0, max: 3 }), insert: fc.constantFrom(...TOKENS) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );

  type Mutation =
    | { kind: 'flip'; at: number; byte: number }
    | { kind: 'splice'; at: number; remove: number; insert: string }
    | { kind: 'truncate'; at: number };

  function mutate(bytes: Uint8Array<ArrayBuffer>, m: Mutation): Uint8Array<ArrayBuffer> {
    const at = bytes.length === 0 ? 0 : m.at % (bytes.length + 1);
    if (m.kind === 'truncate') return bytes.slice(0, at);
    if (m.kind === 'flip') {
      const out = bytes.slice();
      if (at < out.length) out[at] = m.byte;
      return out;
    }
    const insert = utf8.encode(m.insert);
    const out = new Uint8Array(bytes.length - Math.min(m.remove, bytes.length - at) + insert.length);
    out.set(bytes.subarray(0, at));
    out.set(insert, at);
    out.set(bytes.subarray(Math.min(bytes.length, at + m.remove)), at + insert.length);
    return out;
  }

  it('random mutations of valid bodies - null, or exactly what JSON.parse + decodeScoreRequest give', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(request, indent, fc.array(mutation, { minLength: 1, maxLength: 3 }), (body, space, mutations) => {
        let bytes = utf8.encode(JSON.stringify(body, null, space));
        for (const m of mutations) bytes = mutate(bytes, m);
        const text = new TextDecoder().decode(bytes);
        const expected = reference(text);
        const got = readScoreRequest(bytes, LIMITS);
        if (expected === null) {
          rejected++;
          expect(got).toBeNull();
        } else if (got !== null) {
          accepted++;
          expect(sameDecoded(got, expected)).toBe(true);
        }
      }),
      { numRuns: 10_000 },
    );
    // Both sides of the property were exercised.
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(500);
  });
});
