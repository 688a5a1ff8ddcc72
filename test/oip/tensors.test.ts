import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BF16_FORMAT,
  FP16_FORMAT,
  decodeBinaryTensor,
  encodeFp32,
  encodeFp64,
  encodeInt64,
  fromBf16Bits,
  fromFp16Bits,
  roundToFormat,
  toFloatDatatype,
} from '../../src/codec/oip/datatypes.js';
import { bits16, fp32, fp64, int32, int64 } from './wire.js';

// IEEE 754 binary16 patterns and their values, worked out by hand from sign | 5-bit exponent (bias 15) | 10-bit fraction.
const FP16_CASES: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x3c00, 1],
  [0xc000, -2],
  [0x3800, 0.5],
  [0x3555, 0.333251953125], // 1365·2^-12
  [0x3bff, 0.99951171875], // 2047·2^-11
  [0x7bff, 65504], // largest finite
  [0x0400, 2 ** -14], // smallest normal
  [0x03ff, 1023 * 2 ** -24], // largest subnormal
  [0x0001, 2 ** -24], // smallest subnormal
  [0x8001, -(2 ** -24)],
  [0x7c00, Infinity],
  [0xfc00, -Infinity],
];

// bfloat16 = the upper half of a binary32: sign | 8-bit exponent (bias 127) | 7-bit fraction.
const BF16_CASES: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x3f80, 1],
  [0xc000, -2],
  [0x3e80, 0.25],
  [0x4049, 3.140625], // 1.5703125·2
  [0x3dcd, 0.10009765625], // 205·2^-11
  [0x7f7f, 255 * 2 ** 120], // largest finite, 3.3895313892515355e38
  [0x0080, 2 ** -126], // smallest normal
  [0x0001, 2 ** -133], // smallest subnormal
  [0x7f80, Infinity],
  [0xff80, -Infinity],
];

describe('fromFp16Bits - known binary16 patterns', () => {
  it.each(FP16_CASES)('0x%s - decodes exactly', (bits, value) => {
    expect(Object.is(fromFp16Bits(bits), value)).toBe(true);
  });

  it('NaN patterns - decode to NaN, quiet or signalling, either sign', () => {
    for (const bits of [0x7e00, 0x7c01, 0xfe00, 0x7fff]) expect(fromFp16Bits(bits)).toBeNaN();
  });
});

describe('fromBf16Bits - known bfloat16 patterns', () => {
  it.each(BF16_CASES)('0x%s - decodes exactly', (bits, value) => {
    expect(Object.is(fromBf16Bits(bits), value)).toBe(true);
  });

  it('NaN patterns - decode to NaN', () => {
    for (const bits of [0x7fc0, 0x7f81, 0xffc0]) expect(fromBf16Bits(bits)).toBeNaN();
  });
});

describe('roundToFormat - rounding float64 to FP16 and BF16', () => {
  it('every finite FP16 value - rounds to itself', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = fromFp16Bits(h);
      if (Number.isFinite(v) && !Object.is(roundToFormat(v, FP16_FORMAT), v)) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('every finite BF16 value - rounds to itself', () => {
    const wrong: number[] = [];
    for (let b = 0; b < 0x10000; b++) {
      const v = fromBf16Bits(b);
      if (Number.isFinite(v) && !Object.is(roundToFormat(v, BF16_FORMAT), v)) wrong.push(b);
    }
    expect(wrong).toEqual([]);
  });

  it.each([
    ['FP16', fromFp16Bits, FP16_FORMAT, 0x7bff],
    ['BF16', fromBf16Bits, BF16_FORMAT, 0x7f7f],
  ] as const)('every midpoint between %s neighbours - ties to the even pattern, either side to the nearer', (_, decode, format, largest) => {
    const wrong: number[] = [];
    for (let p = 0; p < largest; p++) {
      const [a, b] = [decode(p), decode(p + 1)];
      const mid = (a + b) / 2; // exact: both are float64 values with few significant bits
      const even = p % 2 === 0 ? a : b;
      const gap = b - a;
      if (roundToFormat(mid, format) !== even) wrong.push(p);
      if (roundToFormat(mid - gap / 8, format) !== a || roundToFormat(mid + gap / 8, format) !== b) wrong.push(p);
      if (roundToFormat(-mid, format) !== -even) wrong.push(p);
    }
    expect(wrong).toEqual([]);
  });

  it('midpoints between FP16 neighbours - round to the even pattern', () => {
    // 1 + 2^-11 lies halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01): ties go to 0x3c00.
    expect(roundToFormat(1 + 2 ** -11, FP16_FORMAT)).toBe(1);
    // 1 + 3·2^-11 lies halfway between 0x3c01 and 0x3c02 (even).
    expect(roundToFormat(1 + 3 * 2 ** -11, FP16_FORMAT)).toBe(fromFp16Bits(0x3c02));
    // Just above a midpoint rounds up.
    expect(roundToFormat(1 + 2 ** -11 + 2 ** -40, FP16_FORMAT)).toBe(fromFp16Bits(0x3c01));
    // Half the smallest subnormal ties to 0; a bit more rounds to the smallest subnormal.
    expect(roundToFormat(2 ** -25, FP16_FORMAT)).toBe(0);
    expect(roundToFormat(-(2 ** -25), FP16_FORMAT)).toBe(-0);
    expect(roundToFormat(1.5 * 2 ** -25, FP16_FORMAT)).toBe(2 ** -24);
  });

  it('values near the FP16 maximum - 65519 rounds to 65504, 65520 overflows to Infinity', () => {
    expect(roundToFormat(65519.99, FP16_FORMAT)).toBe(65504);
    expect(roundToFormat(65520, FP16_FORMAT)).toBe(Infinity);
    expect(roundToFormat(-1e300, FP16_FORMAT)).toBe(-Infinity);
  });

  it('0.1 - rounds to the nearest FP16 and BF16 values', () => {
    expect(toFloatDatatype(0.1, 'FP16')).toBe(0.0999755859375); // 0x2e66
    expect(toFloatDatatype(0.1, 'BF16')).toBe(0.10009765625); // 0x3dcd
    expect(toFloatDatatype(0.1, 'FP32')).toBe(Math.fround(0.1));
    expect(toFloatDatatype(0.1, 'FP64')).toBe(0.1);
  });

  it('the binary32 format - agrees with Math.fround on any double (an independent implementation)', () => {
    const FP32_FORMAT = { mantissaBits: 23, minExponent: -126, maxExponent: 127 };
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (x) => Object.is(roundToFormat(x, FP32_FORMAT), Math.fround(x))),
      { numRuns: 20_000 },
    );
  });
});

describe('decodeBinaryTensor - little-endian bytes into float64', () => {
  /** The bytes at an odd offset inside a larger buffer, so the typed-array fast paths cannot be taken by accident. */
  const unaligned = (bytes: Buffer) => Buffer.concat([Buffer.from([0xaa, 0xbb, 0xcc]), bytes, Buffer.from([0xdd])]);

  it('FP64 - aligned and unaligned - exact', () => {
    const values = [0.1, -0, 1e-310, -1e300, Infinity, -Infinity];
    for (const [bytes, offset] of [[fp64(values), 0], [unaligned(fp64(values)), 3]] as const) {
      const out = decodeBinaryTensor(bytes, offset, values.length, 'FP64');
      values.forEach((v, i) => expect(Object.is(out[i], v)).toBe(true));
    }
    const nan = decodeBinaryTensor(fp64([NaN]), 0, 1, 'FP64');
    expect(nan[0]).toBeNaN();
  });

  it('FP32 - aligned and unaligned - the float32 values exactly', () => {
    const values = [0.1, -0, 1e-40, 3.4e38, -Infinity].map(Math.fround);
    for (const [bytes, offset] of [[fp32(values), 0], [unaligned(fp32(values)), 3]] as const) {
      const out = decodeBinaryTensor(bytes, offset, values.length, 'FP32');
      values.forEach((v, i) => expect(Object.is(out[i], v)).toBe(true));
    }
  });

  it('FP16 and BF16 - every listed pattern, unaligned', () => {
    const fp16 = decodeBinaryTensor(unaligned(bits16(FP16_CASES.map(([b]) => b))), 3, FP16_CASES.length, 'FP16');
    FP16_CASES.forEach(([, v], i) => expect(Object.is(fp16[i], v)).toBe(true));
    const bf16 = decodeBinaryTensor(unaligned(bits16(BF16_CASES.map(([b]) => b))), 3, BF16_CASES.length, 'BF16');
    BF16_CASES.forEach(([, v], i) => expect(Object.is(bf16[i], v)).toBe(true));
  });

  it('INT32 - aligned and unaligned - two’s complement', () => {
    const values = [0, 1, -1, -100, 2147483647, -2147483648];
    for (const [bytes, offset] of [[int32(values), 0], [unaligned(int32(values)), 3]] as const) {
      expect(Array.from(decodeBinaryTensor(bytes, offset, values.length, 'INT32'))).toEqual(values);
    }
  });

  it('every datatype, unaligned and longer than one 64 KiB conversion step - each element as the Buffer readers read it', () => {
    const count = 70_001; // crosses the step boundary for every width, and ends inside a step
    const body = Buffer.alloc(3 + count * 8 + 1);
    for (let i = 0; i < body.length; i++) body[i] = (i * 2654435761) >>> 24;
    const readers = {
      FP32: (b: Buffer, o: number) => b.readFloatLE(o),
      FP64: (b: Buffer, o: number) => b.readDoubleLE(o),
      INT32: (b: Buffer, o: number) => b.readInt32LE(o),
      INT64: (b: Buffer, o: number) => Number(b.readBigInt64LE(o)),
      FP16: (b: Buffer, o: number) => fromFp16Bits(b.readUInt16LE(o)),
      BF16: (b: Buffer, o: number) => fromBf16Bits(b.readUInt16LE(o)),
    } as const;
    const widths = { FP32: 4, FP64: 8, INT32: 4, INT64: 8, FP16: 2, BF16: 2 } as const;
    for (const [datatype, read] of Object.entries(readers) as [keyof typeof readers, (b: Buffer, o: number) => number][]) {
      const out = decodeBinaryTensor(body, 3, count, datatype);
      let mismatches = 0;
      for (let i = 0; i < count; i++) if (!Object.is(out[i], read(body, 3 + i * widths[datatype]))) mismatches++;
      expect(mismatches, datatype).toBe(0);
    }
  });

  it('INT64 - negative and beyond 2^32 exactly, beyond 2^53 correctly rounded', () => {
    const values = [0n, 1n, -1n, -100n, 2n ** 32n + 5n, -(2n ** 40n) - 3n, 2n ** 53n - 1n, -(2n ** 63n), 2n ** 63n - 1n];
    const out = decodeBinaryTensor(unaligned(int64(values)), 3, values.length, 'INT64');
    values.forEach((v, i) => expect(out[i]).toBe(Number(v)));
  });
});

describe('encoders - float64 values to little-endian bytes', () => {
  it('encodeFp64, encodeFp32 and encodeInt64 - read back with Buffer readers', () => {
    const values = new Float64Array([0.1, -2.5, 1e300]);
    const b64 = encodeFp64(values);
    expect([0, 8, 16].map((o) => b64.readDoubleLE(o))).toEqual([0.1, -2.5, 1e300]);
    const b32 = encodeFp32(new Float64Array([0.1, -2.5]));
    expect([0, 4].map((o) => b32.readFloatLE(o))).toEqual([Math.fround(0.1), -2.5]);
    const i64 = encodeInt64([3, 2 ** 40]);
    expect([0, 8].map((o) => i64.readBigInt64LE(o))).toEqual([3n, 2n ** 40n]);
  });
});
