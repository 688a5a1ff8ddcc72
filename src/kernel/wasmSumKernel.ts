/**
 * The WebAssembly module behind `sumExpShifted` (exp.ts), assembled here from named opcodes (WebAssembly Core
 * Specification 2.0, §5.4, with the 128-bit SIMD instructions), so that no build step or binary file is needed.
 * test/kernel/wasmSumKernel.test.ts pins its bytes: any change to the instructions is a deliberate one.
 *
 * The module has one 64 KiB memory (`memory`) laid out as below, and one function `sum(from, to) -> i32` that adds
 * e^(z − m) for the f64x2 pairs of z in bytes [from, to) to two lane sums with Neumaier's compensation, and returns
 * how many lanes took the fast path. Every constant is a splat in memory, loaded into a local once (V8 would rebuild
 * a `v128.const` inside the loop at every use). The loop, in WebAssembly text format (one line a statement; every
 * value is f64x2 unless it says otherwise):
 *
 *     (func $sum (param $from i32) (param $to i32) (result i32)
 *       ;; locals: the constants m, −m, FAST_MIN, FAST_MAX, N/ln2, SHIFT, L1, L2, C2..C5 (loaded from CONST_AT),
 *       ;;         s, e (loaded from STATE_AT), and fast (i64x2 lane counters)
 *       (block (loop
 *         (br_if 1 (i32.ge_u $from $to))
 *         z = v128.load $from;  x = z − m
 *         ok = (x ≥ FAST_MIN) & (x ≤ FAST_MAX)              ;; all-ones lanes where the fast path applies
 *         fast = i64x2.sub fast ok                          ;; counts those lanes (−1 each)
 *         b = x − z;  d = (z − (x − b)) + (−m − b)          ;; TwoSum: x + d = z − m exactly
 *         kd = x·(N/ln2) + SHIFT;  nf = kd − SHIFT          ;; n = round(x·N/ln2) in the low bits of kd
 *         r = (x − nf·L1) + (d − nf·L2);  r2 = r·r
 *         a, b = the (t_j, bits(T_j) − j·2^45) pairs of both lanes at TABLE_AT + (n & jMask)·16
 *         scale = i64x2.add (high halves of a, b) (i64x2.shl kd 45)   ;; bits of 2^k·T_j
 *         q = ((t_j + r) + r2·((C2 + r·C3) + r2·(C4 + r·C5)))
 *         y = (scale + scale·q) & ok                        ;; +0 on slow lanes
 *         t = s + y;  e = e + ((pmax(s, y) − t) + pmin(s, y));  s = t   ;; Neumaier, terms ≥ 0
 *         $from = $from + 16
 *         (br 0)))
 *       v128.store STATE_AT s;  v128.store STATE_AT+16 e
 *       (i32.wrap_i64 (i64.add (lane 0 fast) (lane 1 fast))))
 */

/**
 * Layout of the kernel's single 64 KiB page, in bytes: the table as (t_j, bits(T_j) − j·2^45) pairs; the two lanes
 * of s and of e; the constants as f64x2 splats; the chunk of input being summed.
 */
export const TABLE_AT = 0;
export const STATE_AT = 2048;
export const CONST_AT = 2080;
export const DATA_AT = 4096;
/** The splatted constants, in memory order from CONST_AT (16 bytes each). */
export const SUM_KERNEL_CONSTANTS = ['m', '-m', 'FAST_MIN', 'FAST_MAX', 'N/ln2', 'SHIFT', 'L1', 'L2', 'C2', 'C3', 'C4', 'C5'] as const;
export type SumKernelConstant = (typeof SUM_KERNEL_CONSTANTS)[number];

/**
 * The module's bytes, assembled from named opcodes. `jMask` is N − 1 for the table of N entries (127).
 */
export function assembleSumKernel(jMask: number): Uint8Array {
  const uleb = (v: number): number[] => {
    const out: number[] = [];
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      out.push(b);
    } while (v !== 0);
    return out;
  };
  const i32Const = (v: number): number[] => {
    const out: number[] = [0x41];
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return [...out, b];
      out.push(b | 0x80);
    }
  };
  const simd = (op: number, ...immediates: number[]): number[] => [0xfd, ...uleb(op), ...immediates];
  // memarg: alignment 2^4 = 16 bytes, then the offset
  const load = (offset = 0): number[] => simd(0x00, 4, ...uleb(offset));
  const store = (offset = 0): number[] => simd(0x0b, 4, ...uleb(offset));
  const get = (local: number): number[] => [0x20, local];
  const set = (local: number): number[] => [0x21, local];
  const tee = (local: number): number[] => [0x22, local];
  const lane = (l: number): number[] => [...get(KD), ...simd(0x1d, l)]; // i64x2.extract_lane
  const I32_WRAP_I64 = 0xa7;
  const I32_AND = 0x71;
  const I32_SHL = 0x74;
  const I32_ADD = 0x6a;
  const I32_GE_U = 0x4f;
  const I64_ADD = 0x7c;
  const F64X2 = { ge: simd(0x4c), le: simd(0x4b), add: simd(0xf0), sub: simd(0xf1), mul: simd(0xf2) };
  const F64X2_PMIN = simd(0xf6);
  const F64X2_PMAX = simd(0xf7);
  const V128_AND = simd(0x4e);
  const I64X2 = { add: simd(0xce), sub: simd(0xd1), shl: simd(0xcb) };
  const SHUFFLE_LOW = simd(0x0d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  const SHUFFLE_HIGH = simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);

  // Locals: the parameters from, to (i32), then v128 values.
  const FROM = 0;
  const TO = 1;
  let next = 2;
  const constant: Record<SumKernelConstant, number> = Object.fromEntries(
    SUM_KERNEL_CONSTANTS.map((name) => [name, next++]),
  ) as Record<SumKernelConstant, number>;
  const [S, E, FAST, Z, X, OK, KD, NF, D, R, R2, A, B, SCALE, Q, Y, T] = Array.from({ length: 17 }, () => next++) as [
    number, number, number, number, number, number, number, number, number,
    number, number, number, number, number, number, number, number,
  ];
  const c = (name: SumKernelConstant): number[] => get(constant[name]);
  // The table pair of a lane: address = (n & 127)·16, n held in the low bits of KD = x·N/ln2 + SHIFT.
  const pair = (l: number): number[] => [
    ...lane(l), I32_WRAP_I64, ...i32Const(jMask), I32_AND, ...i32Const(4), I32_SHL, ...load(TABLE_AT),
  ];

  const body = [
    ...SUM_KERNEL_CONSTANTS.flatMap((name, index) => [...i32Const(CONST_AT + 16 * index), ...load(), ...set(constant[name])]),
    ...i32Const(STATE_AT), ...load(), ...set(S),
    ...i32Const(STATE_AT), ...load(16), ...set(E),
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(FROM), ...get(TO), I32_GE_U, 0x0d, 1, // br_if out of the block
    // x = z − m; ok = FAST_MIN ≤ x ≤ FAST_MAX; fast += ok (lanes of −1 are counted by subtracting)
    ...get(FROM), ...load(), ...tee(Z), ...c('m'), ...F64X2.sub, ...set(X),
    ...get(X), ...c('FAST_MIN'), ...F64X2.ge, ...get(X), ...c('FAST_MAX'), ...F64X2.le, ...V128_AND, ...set(OK),
    ...get(FAST), ...get(OK), ...I64X2.sub, ...set(FAST),
    // d = (z − (x − b)) + (−m − b), b = x − z: TwoSum's error of z − m
    ...get(Z), ...get(X), ...get(X), ...get(Z), ...F64X2.sub, ...tee(B), ...F64X2.sub, ...F64X2.sub,
    ...c('-m'), ...get(B), ...F64X2.sub, ...F64X2.add, ...set(D),
    // nf = (x·N/ln2 + SHIFT) − SHIFT; r = (x − nf·L1) + (d − nf·L2)
    ...get(X), ...c('N/ln2'), ...F64X2.mul, ...c('SHIFT'), ...F64X2.add, ...tee(KD), ...c('SHIFT'), ...F64X2.sub,
    ...set(NF),
    ...get(X), ...get(NF), ...c('L1'), ...F64X2.mul, ...F64X2.sub,
    ...get(D), ...get(NF), ...c('L2'), ...F64X2.mul, ...F64X2.sub, ...F64X2.add, ...tee(R),
    ...get(R), ...F64X2.mul, ...set(R2),
    // (t_j, bits(T_j) − j·2^45) of each lane; scale = 2^k·T_j by adding n·2^45 to the bits
    ...pair(0), ...set(A), ...pair(1), ...set(B),
    ...get(A), ...get(B), ...SHUFFLE_HIGH, ...get(KD), ...i32Const(45), ...I64X2.shl, ...I64X2.add, ...set(SCALE),
    // q = (t_j + r) + r²·((C2 + r·C3) + r²·(C4 + r·C5))
    ...get(A), ...get(B), ...SHUFFLE_LOW, ...get(R), ...F64X2.add,
    ...get(R2), ...c('C2'), ...get(R), ...c('C3'), ...F64X2.mul, ...F64X2.add,
    ...get(R2), ...c('C4'), ...get(R), ...c('C5'), ...F64X2.mul, ...F64X2.add, ...F64X2.mul, ...F64X2.add,
    ...F64X2.mul, ...F64X2.add, ...set(Q),
    // y = (scale + scale·q) on fast lanes, +0 on the others
    ...get(SCALE), ...get(SCALE), ...get(Q), ...F64X2.mul, ...F64X2.add, ...get(OK), ...V128_AND, ...set(Y),
    // Neumaier: t = s + y; e += (max(s, y) − t) + min(s, y) (s, y ≥ 0, so the pseudo-min/max order by magnitude)
    ...get(S), ...get(Y), ...F64X2.add, ...set(T),
    ...get(E), ...get(S), ...get(Y), ...F64X2_PMAX, ...get(T), ...F64X2.sub, ...get(S), ...get(Y), ...F64X2_PMIN,
    ...F64X2.add, ...F64X2.add, ...set(E),
    ...get(T), ...set(S),
    ...get(FROM), ...i32Const(16), I32_ADD, ...set(FROM),
    0x0c, 0, // br to the loop
    0x0b, 0x0b, // end loop, end block
    ...i32Const(STATE_AT), ...get(S), ...store(),
    ...i32Const(STATE_AT), ...get(E), ...store(16),
    ...get(FAST), ...simd(0x1d, 0), ...get(FAST), ...simd(0x1d, 1), I64_ADD, I32_WRAP_I64,
    0x0b,
  ];
  const code = [1, ...uleb(next - 2), 0x7b, ...body]; // one group of v128 locals
  const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
  const name = (s: string): number[] => [s.length, ...Array.from(s, (ch) => ch.charCodeAt(0))];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f]), // type 0: (i32, i32) → i32
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0x00, 1]), // one memory, at least 1 page
    ...section(7, [2, ...name('memory'), 0x02, 0, ...name('sum'), 0x00, 0]),
    ...section(10, [1, ...uleb(code.length), ...code]),
  ]);
}
