import { tensorOf } from '../tensorBuffers.js';

/**
 * Tensor element types of the Open Inference Protocol and the binary tensor data extension: little-endian, row-major,
 * no padding, each element in its native size. Decoding goes straight from the received bytes into the Float64Array
 * the kernel takes; nothing is allocated before the caller has checked the sizes.
 */

/** Every datatype the protocol defines (BF16 is Triton's addition), with its size in bytes; BYTES has no fixed size. */
export const PROTOCOL_DATATYPES: Readonly<Record<string, number | null>> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  BF16: 2,
  FP32: 4,
  FP64: 8,
  BYTES: null,
};

export const FLOAT_DATATYPES = ['FP16', 'BF16', 'FP32', 'FP64'] as const;
export const INTEGER_DATATYPES = ['INT32', 'INT64'] as const;

export type FloatDatatype = (typeof FLOAT_DATATYPES)[number];
export type IntegerDatatype = (typeof INTEGER_DATATYPES)[number];
/** The datatypes this service reads (BOOL for masks). */
export type NumericDatatype = FloatDatatype | IntegerDatatype | 'BOOL';

export const BYTES_PER_ELEMENT: Readonly<Record<NumericDatatype, number>> = {
  BOOL: 1,
  FP16: 2,
  BF16: 2,
  FP32: 4,
  FP64: 8,
  INT32: 4,
  INT64: 8,
};

/** The wire order is little-endian; on a little-endian host the bytes can be copied as they are. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const TWO_POW_32 = 4294967296;

/** 2^k for k in [-24, 15]: the binary16 exponent range, subnormals included. */
const FP16_SCALE = Array.from({ length: 40 }, (_, i) => 2 ** (i - 24));

/**
 * The value of an IEEE 754 binary16 bit pattern, exactly: ±0, subnormals (m·2^-24), normals ((1024 + m)·2^(e−25)),
 * ±Infinity and NaN. Every binary16 value is a float64 value, so nothing rounds.
 */
export function fromFp16Bits(h: number): number {
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  let v: number;
  if (exponent === 0) v = mantissa * FP16_SCALE[0]!;
  else if (exponent === 0x1f) v = mantissa === 0 ? Infinity : NaN;
  else v = (1024 + mantissa) * FP16_SCALE[exponent - 1]!;
  return h & 0x8000 ? -v : v;
}

let FP16_VALUES: Float64Array | null = null;

/** Every binary16 value by bit pattern (512 KiB, built on first use): a lookup is several times faster than decoding. */
function fp16Table(): Float64Array {
  if (FP16_VALUES === null) {
    FP16_VALUES = new Float64Array(0x10000);
    for (let h = 0; h < 0x10000; h++) FP16_VALUES[h] = fromFp16Bits(h);
  }
  return FP16_VALUES;
}

const scratchBits = new Uint32Array(1);
const scratchFloat = new Float32Array(scratchBits.buffer);

/** The value of a bfloat16 bit pattern: the upper 16 bits of a binary32, so the float32 they make, exactly. */
export function fromBf16Bits(b: number): number {
  scratchBits[0] = (b & 0xffff) << 16;
  return scratchFloat[0]!;
}

/** A binary floating-point format: significand bits after the leading one, and the exponent range of normals. */
export interface BinaryFormat {
  mantissaBits: number;
  minExponent: number;
  maxExponent: number;
}

export const FP16_FORMAT: BinaryFormat = { mantissaBits: 10, minExponent: -14, maxExponent: 15 };
export const BF16_FORMAT: BinaryFormat = { mantissaBits: 7, minExponent: -126, maxExponent: 127 };

/**
 * `x` rounded to the nearest value of `format`, ties to even, as IEEE 754 conversion does: ±Infinity beyond the
 * largest finite value, subnormals below the smallest normal, the sign of zero kept. Rounding once from float64
 * (not through float32) avoids double rounding. Dividing by a power of two and taking the integer part are exact.
 */
export function roundToFormat(x: number, format: BinaryFormat): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const ax = Math.abs(x);
  let exponent = Math.floor(Math.log2(ax));
  // log2 may be off by one next to a power of two.
  if (2 ** exponent > ax) exponent--;
  else if (2 ** (exponent + 1) <= ax) exponent++;
  if (exponent < format.minExponent) exponent = format.minExponent;
  const quantum = 2 ** (exponent - format.mantissaBits);
  const scaled = ax / quantum;
  let n = Math.floor(scaled);
  const fraction = scaled - n;
  if (fraction > 0.5 || (fraction === 0.5 && n % 2 === 1)) n++;
  const largest = (2 - 2 ** -format.mantissaBits) * 2 ** format.maxExponent;
  const v = n * quantum;
  const rounded = v > largest ? Infinity : v;
  return x < 0 ? -rounded : rounded;
}

/** `x` as an element of a floating-point tensor of `datatype`: rounded to it, ±Infinity when beyond its range. */
export function toFloatDatatype(x: number, datatype: FloatDatatype): number {
  switch (datatype) {
    case 'FP64':
      return x;
    case 'FP32':
      return Math.fround(x);
    case 'FP16':
      return roundToFormat(x, FP16_FORMAT);
    case 'BF16':
      return roundToFormat(x, BF16_FORMAT);
  }
}

/** Whether the integer `x` fits `datatype`. */
export function fitsIntegerDatatype(x: number, datatype: IntegerDatatype): boolean {
  return datatype === 'INT32' ? x >= -2147483648 && x <= 2147483647 : x >= -(2 ** 63) && x < 2 ** 63;
}

/**
 * Bytes converted per step when the tensor's elements are not aligned in the body (its JSON header can be of any
 * length): copied into an aligned scratch buffer, then converted by typed arrays. A DataView read per element costs
 * ~5 ns, several times the conversion itself: 3 ms for the 400 000 FP32 logits of an 8 × 50257 batch, as long as
 * the kernel's whole pass over them. 64 KiB stays in cache and is allocated once per thread.
 */
const CHUNK_BYTES = 64 * 1024;
const chunk = new Uint8Array(CHUNK_BYTES);
const chunkFloat32 = new Float32Array(chunk.buffer);
const chunkInt32 = new Int32Array(chunk.buffer);
const chunkUint16 = new Uint16Array(chunk.buffer);
/** BF16 bit patterns widened to binary32 ones (b << 16), read back as float32. */
const widened = new Uint32Array(CHUNK_BYTES / 2);
const widenedFloat32 = new Float32Array(widened.buffer);

/**
 * `count` elements of `datatype` read from `bytes` at `offset` into a Float64Array (a new one, or one kept for the
 * purpose: reuseTensorBuffers()). The caller has checked that the bytes are there. INT64 values beyond 2^53 come out
 * correctly rounded (hi·2^32 + lo rounds once).
 */
export function decodeBinaryTensor(bytes: Uint8Array, offset: number, count: number, datatype: NumericDatatype): Float64Array {
  const out = tensorOf(count);
  const width = BYTES_PER_ELEMENT[datatype];
  const byteLength = count * width;
  const start = bytes.byteOffset + offset;
  if (!LITTLE_ENDIAN_HOST) return decodeWithDataView(out, new DataView(bytes.buffer, start, byteLength), datatype);
  if (datatype === 'FP64') {
    new Uint8Array(out.buffer, out.byteOffset, byteLength).set(bytes.subarray(offset, offset + byteLength));
    return out;
  }
  // Aligned (always, from a shared body buffer: http/bodyReader places it so): typed arrays read the bytes directly.
  if (start % width === 0 && (datatype === 'FP32' || datatype === 'INT32')) {
    out.set(datatype === 'FP32' ? new Float32Array(bytes.buffer, start, count) : new Int32Array(bytes.buffer, start, count));
    return out;
  }
  const perChunk = CHUNK_BYTES / width;
  for (let done = 0; done < count; done += perChunk) {
    const n = Math.min(perChunk, count - done);
    const from = offset + done * width;
    chunk.set(bytes.subarray(from, from + n * width));
    switch (datatype) {
      case 'FP32':
        out.set(chunkFloat32.subarray(0, n), done);
        break;
      case 'INT32':
        out.set(chunkInt32.subarray(0, n), done);
        break;
      case 'FP16': {
        const table = fp16Table();
        for (let i = 0; i < n; i++) out[done + i] = table[chunkUint16[i]!]!;
        break;
      }
      case 'BF16':
        for (let i = 0; i < n; i++) widened[i] = chunkUint16[i]! << 16;
        out.set(widenedFloat32.subarray(0, n), done);
        break;
      case 'INT64':
        for (let i = 0; i < n; i++) out[done + i] = chunkInt32[2 * i + 1]! * TWO_POW_32 + (chunkInt32[2 * i]! >>> 0);
        break;
    }
  }
  return out;
}

/** The same on a big-endian host, element by element. */
function decodeWithDataView(out: Float64Array, view: DataView, datatype: NumericDatatype): Float64Array {
  const count = out.length;
  switch (datatype) {
    case 'FP64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'FP32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'FP16': {
      const table = fp16Table();
      for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, true)]!;
      break;
    }
    case 'BF16':
      for (let i = 0; i < count; i++) out[i] = fromBf16Bits(view.getUint16(i * 2, true));
      break;
    case 'INT32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case 'INT64':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 8 + 4, true) * TWO_POW_32 + view.getUint32(i * 8, true);
      break;
    case 'BOOL':
      // One byte each; a value other than 0 or 1 is kept, and refused where the tensor is checked.
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      break;
  }
  return out;
}

/** `values` as little-endian FP64 bytes; on a little-endian host a view of the same memory, not a copy. */
export function encodeFp64(values: Float64Array): Buffer {
  if (LITTLE_ENDIAN_HOST) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.allocUnsafe(values.length * 8);
  for (let i = 0; i < values.length; i++) out.writeDoubleLE(values[i]!, i * 8);
  return out;
}

/** `values` rounded to float32, as little-endian FP32 bytes. */
export function encodeFp32(values: Float64Array): Buffer {
  const narrowed = Float32Array.from(values);
  if (LITTLE_ENDIAN_HOST) return Buffer.from(narrowed.buffer, narrowed.byteOffset, narrowed.byteLength);
  const out = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < narrowed.length; i++) out.writeFloatLE(narrowed[i]!, i * 4);
  return out;
}

/** Safe integers as little-endian INT64 bytes. */
export function encodeInt64(values: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(values.length * 8);
  for (let i = 0; i < values.length; i++) out.writeBigInt64LE(BigInt(values[i]!), i * 8);
  return out;
}
