import { pow2, splitHigh } from '../../kernel/float64.js';
import type { Issue } from '../problems.js';
import { buildTask, checkSequenceScope, expectedShape, resolveClassAxis, resolveOptions, type DecodedTask } from '../task.js';
import { MAX_DIMENSIONS, type Tensor } from '../tensor.js';
import { beginTensors, keepSlot, keptBuffer } from '../tensorBuffers.js';
import type { DecodeLimits } from './decode.js';
import * as chars from './chars.js';

// Module-local copies of the byte codes: the optimizing compiler folds a module's own const into the code, while an
// imported binding is a live cell read and checked at every use (20 % of the reader's time in its digit loops).
const { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, CR, DOT, LF, LOWER_E, MINUS, NINE, OPEN_BRACE, OPEN_BRACKET, PLUS, QUOTE, SPACE, TAB, TILDE, UPPER_E, ZERO } = chars;

/**
 * A single-pass reader of the UTF-8 bytes of a POST /loss or /cost body that writes numbers straight into
 * Float64Arrays, without building the JS arrays JSON.parse would (400 000 numbers for an 8 × 50257 batch).
 *
 * It is an accelerator, not a validator: it finds the same parts as `decodeScoreRequest(JSON.parse(text), limits)`
 * (same doubles bit for bit, same shapes) and hands them to the same task builder, so it returns exactly what that
 * returns for the bodies it accepts, and null for anything it is not sure about (any syntax it does not handle,
 * escapes or non-ASCII bytes in strings, duplicate or unknown keys, ragged or empty arrays, non-finite or overflowing
 * numbers, anything the task builder would reject). The caller then falls back to JSON.parse + decodeScoreRequest,
 * which produces the precise error.
 *
 * Numbers are rounded exactly as JSON.parse rounds them (IEEE round-to-nearest-even of the exact decimal value):
 * - up to 15 significant digits (or an integer mantissa ≤ 2^53) with |exponent| ≤ 22: one multiplication or division
 *   of two exact doubles, which is correctly rounded (Clinger's fast path, W. D. Clinger, "How to read floating point
 *   numbers accurately", PLDI 1990);
 * - up to 19 significant digits with a decimal exponent in [-260, 260]: the mantissa exactly as a double-double times
 *   10^q as a double-double (Dekker's exact product, T. J. Dekker, "A floating-point technique for extending the
 *   available precision", Numer. Math. 18, 1971), within 2^-101 of the true value; the result is taken only when the
 *   whole interval of ± 2^-96 around it rounds to one double (rounding is monotonic, so the true value rounds to it
 *   too). Longer mantissas are cut to 19 digits, and taken when both ends of [m, m + 1) · 10^q round alike;
 * - anything else: `Number()` of the ASCII text, correctly rounded like JSON.parse (V8 runs the same StringToDouble
 *   for both). Exact and near halfway cases, subnormals, huge exponents and overflow land here.
 */
export function readScoreRequest(bytes: Uint8Array, limits: DecodeLimits): DecodedTask | null {
  // The last non-blank byte must close the object; every scanner below stops at it, so no read runs past the end.
  let last = bytes.length - 1;
  while (last >= 0 && isBlank(bytes[last]!)) last--;
  if (last < 1 || bytes[last] !== CLOSE_BRACE) return null;

  // Never more numbers than bytes; a limit decodeScoreRequest cannot meet (or NaN) is left to it.
  if (!(limits.maxElements >= 1)) return null;
  const maxCount = Math.floor(Math.min(limits.maxElements, bytes.length));

  beginTensors();
  let p = skipBlanks(bytes, 0);
  if (bytes[p] !== OPEN_BRACE) return null;
  p = skipBlanks(bytes, p + 1);

  let seen = 0;
  let input: Tensor | null = null;
  let truth: Tensor | null = null;
  let weights: Tensor | null = null;
  let sampleWeights: Tensor | null = null;
  let ignoreIndex: number | undefined;
  let classDim: number | undefined;
  let renormalize: boolean | undefined;
  let include: string[] | undefined;
  let topK: number[] | undefined;
  let calibrationBins: number | undefined;
  let model: string | undefined;
  let labelSmoothing: number | undefined;
  let epsilon: number | undefined;
  let unit: string | undefined;

  for (;;) {
    if (bytes[p] !== QUOTE) return null;
    const keyEnd = endOfPlainString(bytes, p + 1, last);
    if (keyEnd < 0) return null;
    const field = fieldAt(bytes, p + 1, keyEnd);
    if (field < 0 || (seen & (1 << field)) !== 0) return null;
    seen |= 1 << field;
    p = skipBlanks(bytes, keyEnd + 1);
    if (bytes[p] !== COLON) return null;
    p = skipBlanks(bytes, p + 1);

    switch (field) {
      case LOGITS:
      case PROBABILITIES:
      case LABELS:
      case TARGETS:
      case CLASS_WEIGHTS:
      case SAMPLE_WEIGHTS: {
        const tensor = readTensor(bytes, p, last, maxCount);
        if (tensor === null) return null;
        if (field === LOGITS || field === PROBABILITIES) input = tensor;
        else if (field === CLASS_WEIGHTS) weights = tensor;
        else if (field === SAMPLE_WEIGHTS) sampleWeights = tensor;
        else truth = tensor;
        p = tensorEnd;
        break;
      }
      case IGNORE_INDEX:
      case LABEL_SMOOTHING:
      case EPSILON:
      case CLASS_DIM:
      case CALIBRATION_BINS: {
        if (readNumbers(bytes, p, scratch, 0, 1) < 0) return null;
        const x = scratch[0]!;
        if (field === IGNORE_INDEX) ignoreIndex = x;
        else if (field === LABEL_SMOOTHING) labelSmoothing = x;
        else if (field === CLASS_DIM) classDim = x;
        else if (field === CALIBRATION_BINS) calibrationBins = x;
        else epsilon = x;
        p = numbersEnd;
        break;
      }
      case TOP_K: {
        const tensor = readTensor(bytes, p, last, 64);
        if (tensor === null || tensor.shape.length !== 1) return null;
        topK = Array.from(tensor.data);
        p = tensorEnd;
        break;
      }
      case INCLUDE: {
        // An array of plain strings.
        if (bytes[p] !== OPEN_BRACKET) return null;
        include = [];
        p = skipBlanks(bytes, p + 1);
        while (bytes[p] !== CLOSE_BRACKET) {
          if (bytes[p] !== QUOTE) return null;
          const end = endOfPlainString(bytes, p + 1, last);
          if (end < 0) return null;
          include.push(asciiText(bytes, p + 1, end));
          p = skipBlanks(bytes, end + 1);
          if (bytes[p] === COMMA) p = skipBlanks(bytes, p + 1);
          else if (bytes[p] !== CLOSE_BRACKET) return null;
        }
        p++;
        break;
      }
      case RENORMALIZE: {
        if (startsWith(bytes, p, TRUE)) renormalize = true;
        else if (startsWith(bytes, p, FALSE)) renormalize = false;
        else return null;
        p += renormalize ? TRUE.length : FALSE.length;
        break;
      }
      case UNIT:
      case MODEL: {
        if (bytes[p] !== QUOTE) return null;
        const end = endOfPlainString(bytes, p + 1, last);
        if (end < 0) return null;
        if (field === UNIT) unit = asciiText(bytes, p + 1, end);
        else model = asciiText(bytes, p + 1, end);
        p = end + 1;
        break;
      }
    }

    p = skipBlanks(bytes, p);
    const c = bytes[p];
    if (c === COMMA) {
      p = skipBlanks(bytes, p + 1);
      continue;
    }
    if (c === CLOSE_BRACE && p === last) break;
    return null;
  }

  const has = (field: number): boolean => (seen & (1 << field)) !== 0;
  if (has(LOGITS) === has(PROBABILITIES) || has(LABELS) === has(TARGETS) || input === null || truth === null) return null;
  const inputField = has(LOGITS) ? 'logits' : 'probabilities';
  const truthField = has(LABELS) ? 'labels' : 'targets';
  const issues: Issue[] = [];
  const given = {
    ignore_index: ignoreIndex,
    label_smoothing: labelSmoothing,
    epsilon,
    unit,
    class_dim: classDim,
    renormalize,
    include,
    top_k: topK,
    calibration_bins: calibrationBins,
    model,
  };
  const options = resolveOptions(given, inputField, truthField, () => '', issues);
  if (options === null) return null;

  const shape = input.shape;
  if (shape.length < 2) return null;
  const classAxis = resolveClassAxis(options.classDim, shape.length, inputField, '', issues);
  if (classAxis === null) return null;
  if (!sameShape(truth.shape, expectedShape(truthField, shape, classAxis))) return null;
  if (weights !== null && !sameShape(weights.shape, expectedShape('class_weights', shape, classAxis))) return null;
  if (sampleWeights !== null && !sameShape(sampleWeights.shape, expectedShape('sample_weights', shape, classAxis))) return null;
  const rowShape = expectedShape('labels', shape, classAxis);
  checkSequenceScope(options, rowShape, () => '', issues);
  if (issues.length > 0) return null;
  const parts = { classWeights: weights?.data ?? null, sampleWeights: sampleWeights?.data ?? null, mask: null, bytes: null, words: null };
  return buildTask({ field: inputField, tensor: input }, { field: truthField, data: truth.data }, parts, options, classAxis);
}


// Field ids: bit positions in the `seen` mask, indices into FIELD_NAMES.
const LOGITS = 0;
const PROBABILITIES = 1;
const LABELS = 2;
const TARGETS = 3;
const CLASS_WEIGHTS = 4;
const IGNORE_INDEX = 5;
const LABEL_SMOOTHING = 6;
const EPSILON = 7;
const UNIT = 8;
const SAMPLE_WEIGHTS = 9;
const CLASS_DIM = 10;
const RENORMALIZE = 11;
const INCLUDE = 12;
const TOP_K = 13;
const CALIBRATION_BINS = 14;
const MODEL = 15;
const FIELD_NAMES = [
  'logits',
  'probabilities',
  'labels',
  'targets',
  'class_weights',
  'ignore_index',
  'label_smoothing',
  'epsilon',
  'unit',
  'sample_weights',
  'class_dim',
  'renormalize',
  'include',
  'top_k',
  'calibration_bins',
  'model',
];

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];

/** Whether the bytes at `p` spell `word` (a literal; what follows is checked by the caller's next step). */
function startsWith(b: Uint8Array, p: number, word: readonly number[]): boolean {
  for (let i = 0; i < word.length; i++) if (b[p + i] !== word[i]) return false;
  return true;
}

/** Tensors deeper than this are left to JSON.parse. */
const MAX_DEPTH = MAX_DIMENSIONS;

function isBlank(c: number): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB;
}

function skipBlanks(b: Uint8Array, p: number): number {
  let c = b[p];
  while (c === SPACE || c === LF || c === CR || c === TAB) c = b[++p];
  return p;
}

/**
 * The index of the quote closing a string that starts at `p`, or -1 unless every byte up to it is printable ASCII
 * other than a backslash: an escape or a non-ASCII byte is left to JSON.parse.
 */
function endOfPlainString(b: Uint8Array, p: number, last: number): number {
  for (; p < last; p++) {
    const c = b[p]!;
    if (c === QUOTE) return p;
    if (c < SPACE || c > TILDE || c === BACKSLASH) return -1;
  }
  return -1;
}

function asciiText(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function fieldAt(b: Uint8Array, start: number, end: number): number {
  const length = end - start;
  for (let f = 0; f < FIELD_NAMES.length; f++) {
    const name = FIELD_NAMES[f]!;
    if (name.length !== length) continue;
    let i = 0;
    while (i < length && b[start + i] === name.charCodeAt(i)) i++;
    if (i === length) return f;
  }
  return -1;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Where the last tensor read by readTensor ended (one past its closing bracket). */
let tensorEnd = 0;
const EMPTY = new Float64Array(0);

/**
 * Nested arrays of finite numbers starting at the `[` at `start`, row-major into a Float64Array, or null. The shape
 * is that of the first element at every depth, as decodeScoreRequest takes it, and every array must match it
 * exactly; numbers only at the deepest level, no empty arrays, at most `maxCount` numbers.
 */
function readTensor(b: Uint8Array, start: number, last: number, maxCount: number): Tensor | null {
  if (b[start] !== OPEN_BRACKET) return null;
  let data: Float64Array = EMPTY;
  let capacity = 0; // how many numbers data may take (at most maxCount)
  let count = 0;
  // In a pool worker, a large tensor is read into a buffer kept from the previous request (codec/tensorBuffers.ts);
  // slot is that buffer's, once the tensor is large enough to take one.
  let slot = -1;
  /** Room for `wanted` ≤ maxCount numbers, keeping the `count` read so far (a kept buffer may give more room). */
  const resize = (wanted: number): void => {
    if (slot < 0) slot = keepSlot(wanted);
    const grown = slot < 0 ? new Float64Array(wanted) : keptBuffer(slot, wanted);
    grown.set(data.subarray(0, count));
    data = grown;
    capacity = slot < 0 ? wanted : Math.min(maxCount, grown.length);
  };
  // Room for the first row at 32 bytes a number, more than most bodies spend; refined once that row is read.
  resize(Math.min(maxCount, Math.max(1024, (last - start) >> 5)));
  const dims = new Array<number>(MAX_DEPTH).fill(-1);
  const items: number[] = [];
  let leafDepth = -1;
  let depth = 0; // depth of the array opened at p
  let p = start;

  for (;;) {
    // b[p] is the `[` of an array at `depth`.
    if (depth >= MAX_DEPTH || (leafDepth >= 0 && depth > leafDepth)) return null;
    p = skipBlanks(b, p + 1);
    if (b[p] === OPEN_BRACKET) {
      if (depth === leafDepth) return null;
      items[depth] = 0;
      depth++;
      continue;
    }
    if (leafDepth < 0) leafDepth = depth;
    else if (depth !== leafDepth) return null;

    // A row of numbers, read in runs that stop at its end or when the array is full.
    const rowStart = count;
    for (;;) {
      if (count === capacity) {
        if (count >= maxCount) return null;
        resize(Math.min(maxCount, capacity * 2));
      }
      count = readNumbers(b, p, data, count, capacity);
      if (count < 0) return null;
      p = numbersEnd;
      const c = b[p];
      if (c === CLOSE_BRACKET) {
        p++;
        break;
      }
      if (c !== COMMA) return null;
      p = skipBlanks(b, p + 1); // the run stopped at a full array
    }
    let length = count - rowStart;
    if (rowStart === 0 && leafDepth > 0 && p < last) {
      // The first row shows how many bytes a number takes in this body: size the array for the rest of it now, so
      // that it is copied once (trimmed at the end) rather than grown step by step.
      const estimate = Math.min(maxCount, count + Math.ceil(((last - p) * count) / (p - start)) + 16);
      if (estimate > capacity) resize(estimate);
    }

    // Close the row and every array it ends, checking each length against the shape.
    for (;;) {
      if (dims[depth] === -1) dims[depth] = length;
      else if (dims[depth] !== length) return null;
      if (depth === 0) {
        tensorEnd = p;
        const shape = dims.slice(0, leafDepth + 1);
        const exact = slot >= 0 || count === capacity;
        return { data: exact ? data.subarray(0, count) : data.slice(0, count), shape };
      }
      depth--;
      length = ++items[depth]!;
      p = skipBlanks(b, p);
      const c = b[p];
      if (c === COMMA) {
        p = skipBlanks(b, p + 1);
        if (b[p] !== OPEN_BRACKET) return null;
        depth++;
        break;
      }
      if (c !== CLOSE_BRACKET) return null;
      p++;
    }
  }
}

/** Where the last run read by readNumbers ended: after its last number and the blanks after it. */
let numbersEnd = 0;
const scratch = new Float64Array(1);

const POW10 = new Float64Array(23).map((_, i) => 10 ** i); // exact: 10^22 < 2^53 · 2^22
const TWO_26 = 67108864;
const TWO_53 = 9007199254740992;

/**
 * Reads a run of JSON numbers separated by commas, each correctly rounded, into `out` from index `count`: stops after
 * a number that is not followed by a comma or once `out` holds `max` numbers. Returns the new count, with the end
 * of the run (blanks skipped) in numbersEnd, or -1 at anything that is not a JSON number or not finite.
 *
 * Most numbers take the fast path, inline in the loop: digits, an optional fraction, no exponent, at most 15 digits
 * in all. Their digits then form an integer m < 10^15 < 2^53 and the value is m / 10^f with f ≤ 15 fraction digits:
 * both exact doubles, so one IEEE division rounds correctly (Clinger's fast path), as JSON.parse does. Any other
 * number (an exponent, more digits, a leading zero, a malformed one) is read again from its start by carefulNumber.
 */
function readNumbers(b: Uint8Array, p: number, out: Float64Array, count: number, max: number): number {
  for (;;) {
    const start = p;
    let c = b[p]!;
    const negative = c === MINUS;
    if (negative) c = b[++p]!;
    const integerStart = p;
    let m = 0;
    // d = c - '0' as an unsigned number: one comparison (d < 10) tells a digit.
    let d = (c - ZERO) >>> 0;
    while (d < 10) {
      m = m * 10 + d;
      c = b[++p]!;
      d = (c - ZERO) >>> 0;
    }
    const integerDigits = p - integerStart;
    let fractionDigits = 0;
    if (c === DOT) {
      const fractionStart = ++p;
      c = b[p]!;
      d = (c - ZERO) >>> 0;
      while (d < 10) {
        m = m * 10 + d;
        c = b[++p]!;
        d = (c - ZERO) >>> 0;
      }
      fractionDigits = p - fractionStart;
      if (fractionDigits === 0) return -1; // "1." is not JSON
    }
    let value: number;
    if (
      integerDigits > 0 &&
      integerDigits + fractionDigits <= 15 &&
      (integerDigits === 1 || b[integerStart] !== ZERO) &&
      c !== LOWER_E &&
      c !== UPPER_E
    ) {
      value = m / POW10[fractionDigits]!;
      if (negative) value = -value;
    } else {
      value = carefulNumber(b, start);
      if (value !== value) return -1;
      p = numberEnd;
      c = b[p]!;
    }
    out[count++] = value;

    // The usual separator is a bare comma: checked first.
    if (c !== COMMA) {
      while (c === SPACE || c === LF || c === CR || c === TAB) c = b[++p]!;
      if (c !== COMMA) {
        numbersEnd = p;
        return count;
      }
    }
    if (count === max) {
      numbersEnd = p;
      return count;
    }
    c = b[++p]!;
    if (c <= SPACE) while (c === SPACE || c === LF || c === CR || c === TAB) c = b[++p]!;
  }
}

/** Where the number read by carefulNumber ended. */
let numberEnd = 0;

/**
 * The JSON number at `start`, correctly rounded, whatever its form (the end in numberEnd); NaN when it is not a JSON
 * number or not finite.
 */
function carefulNumber(b: Uint8Array, start: number): number {
  let p = start;
  let c = b[p]!;
  const negative = c === MINUS;
  if (negative) c = b[++p]!;
  let head = 0; // the first 15 significant digits, exact
  let tail = 0; // significant digits 16 to 19, exact
  let digits = 0; // significant digits
  let fractionDigits = 0;
  if (c === ZERO) {
    c = b[++p]!;
    if (c >= ZERO && c <= NINE) return NaN; // leading zero
  } else if (c > ZERO && c <= NINE) {
    do {
      if (digits < 15) head = head * 10 + (c - ZERO);
      else if (digits < 19) tail = tail * 10 + (c - ZERO);
      digits++;
      c = b[++p]!;
    } while (c >= ZERO && c <= NINE);
  } else {
    return NaN;
  }
  if (c === DOT) {
    c = b[++p]!;
    if (!(c >= ZERO && c <= NINE)) return NaN;
    const fractionStart = p;
    if (digits === 0) while (c === ZERO) c = b[++p]!;
    while (c >= ZERO && c <= NINE) {
      if (digits < 15) head = head * 10 + (c - ZERO);
      else if (digits < 19) tail = tail * 10 + (c - ZERO);
      digits++;
      c = b[++p]!;
    }
    fractionDigits = p - fractionStart;
  }
  let exponent = 0;
  if (c === LOWER_E || c === UPPER_E) {
    c = b[++p]!;
    const negativeExponent = c === MINUS;
    if (negativeExponent || c === PLUS) c = b[++p]!;
    if (!(c >= ZERO && c <= NINE)) return NaN;
    do {
      // Exact below 2^53; beyond, |q| is far outside every fast path whatever the rounding, and Number() decides.
      exponent = exponent * 10 + (c - ZERO);
      c = b[++p]!;
    } while (c >= ZERO && c <= NINE);
    if (negativeExponent) exponent = -exponent;
  }
  numberEnd = p;
  let value: number;
  if (digits === 0) {
    value = 0;
  } else if (digits <= 15) {
    const q = exponent - fractionDigits; // the value is head · 10^q
    value = q >= -22 && q <= 22 ? (q < 0 ? head / POW10[-q]! : head * POW10[q]!) : scaleByPowerOfTen(head, 0, q);
  } else if (digits <= 19) {
    value = decimalToDouble(head, tail, digits - 15, exponent - fractionDigits);
  } else {
    // Only the first 19 digits are held: the value lies in [m, m + 1) · 10^q. Both ends rounding to the same double
    // settle it (rounding is monotonic); otherwise the text decides.
    const q = exponent - fractionDigits + (digits - 19);
    value = decimalToDouble(head, tail, 4, q);
    if (value !== decimalToDouble(head, tail + 1, 4, q)) value = NaN;
  }
  if (value !== value) return numberOfText(b, start, p);
  return negative ? -value : value;
}

/**
 * (head · 10^k + tail) · 10^q correctly rounded, for head < 10^15, 1 ≤ k ≤ 4 and tail ≤ 10^k; NaN when that cannot
 * be decided here.
 */
function decimalToDouble(head: number, tail: number, k: number, q: number): number {
  // The mantissa exactly as mantissa + mantissaLow: head = h1 · 2^26 + h0 splits head · 10^k into exact parts, and
  // the larger part dominates (head ≥ 10^14), so Fast2Sum is exact.
  const scale = POW10[k]!;
  const h1 = Math.floor(head / TWO_26);
  const big = h1 * scale * TWO_26;
  const small = (head - h1 * TWO_26) * scale + tail;
  const mantissa = big + small;
  const mantissaLow = big - mantissa + small;
  if (q >= -22 && q <= 22 && mantissaLow === 0 && mantissa <= TWO_53) {
    return q < 0 ? mantissa / POW10[-q]! : mantissa * POW10[q]!;
  }
  return scaleByPowerOfTen(mantissa, mantissaLow, q);
}

/** Number() of the ASCII text of a JSON number (correctly rounded), or NaN when it overflows. */
function numberOfText(b: Uint8Array, start: number, end: number): number {
  const x = Number(end - start <= 64 ? String.fromCharCode(...b.subarray(start, end)) : asciiText(b, start, end));
  return x - x === 0 ? x : NaN;
}

/** Decimal exponents the double-double powers of ten cover: results stay normal, products stay finite. */
const Q_RANGE = 260;
const MARGIN = 2 ** -96;
const POWER_HIGH = new Float64Array(2 * Q_RANGE + 1);
const POWER_LOW = new Float64Array(2 * Q_RANGE + 1);
const POWER_HIGH_1 = new Float64Array(2 * Q_RANGE + 1); // POWER_HIGH split into two 26-bit halves
const POWER_HIGH_2 = new Float64Array(2 * Q_RANGE + 1);
buildPowersOfTen();

/**
 * (mantissa + mantissaLow) · 10^q correctly rounded, for an integer mantissa < 10^19 held exactly as a double-double;
 * NaN when q is out of range or the result is too close to a rounding boundary to decide here.
 */
function scaleByPowerOfTen(mantissa: number, mantissaLow: number, q: number): number {
  if (q < -Q_RANGE || q > Q_RANGE) return NaN;
  const i = q + Q_RANGE;
  const ph = POWER_HIGH[i]!;
  const ph1 = POWER_HIGH_1[i]!;
  const ph2 = POWER_HIGH_2[i]!;
  // Dekker's exact product: high + err = mantissa · ph.
  const m1 = splitHigh(mantissa);
  const m2 = mantissa - m1;
  const high = mantissa * ph;
  const err = m2 * ph2 - (high - m1 * ph1 - m2 * ph1 - m1 * ph2);
  // |true − (high + low)| < 2^-101 · high: the terms of low are each ≤ 2^-53 · high, rounded at ≤ 2^-104 · high,
  // the dropped mantissaLow · POWER_LOW ≤ 2^-106 · high, the table's own error ≤ 2^-105 · high.
  const low = mantissa * POWER_LOW[i]! + mantissaLow * ph + err;
  const margin = high * MARGIN;
  const below = high + (low - margin);
  const above = high + (low + margin);
  return below === above ? below : NaN;
}

/**
 * 10^q as an unevaluated sum POWER_HIGH + POWER_LOW (POWER_HIGH correctly rounded, POWER_LOW to within 2^-52 of the
 * remainder), from exact integer arithmetic.
 */
function buildPowersOfTen(): void {
  for (let q = -Q_RANGE; q <= Q_RANGE; q++) {
    let high: number;
    let low: number;
    if (q >= 0) {
      const exact = 10n ** BigInt(q);
      high = Number(exact);
      low = Number(exact - BigInt(high));
    } else {
      // 10^q · 2^(k+1) lies strictly between 2·floor(2^k / 10^-q) and that + 2; the odd integer between them rounds
      // the same way as the true value (every rounding boundary at this size is an even integer).
      const divisor = 10n ** BigInt(-q);
      const k = divisor.toString(2).length + 180;
      const scaled = ((1n << BigInt(k)) / divisor) * 2n + 1n;
      const scaledHigh = Number(scaled);
      high = scaledHigh * pow2(-(k + 1));
      low = Number(scaled - BigInt(scaledHigh)) * pow2(-(k + 1));
    }
    const i = q + Q_RANGE;
    POWER_HIGH[i] = high;
    POWER_LOW[i] = low;
    POWER_HIGH_1[i] = splitHigh(high);
    POWER_HIGH_2[i] = high - POWER_HIGH_1[i]!;
  }
}
