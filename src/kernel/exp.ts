/**
 * e^x within 1 ulp, and the fused, compensated Σ_c e^(z_c − m) that the cross-entropy kernel spends its time in,
 * computed in WebAssembly SIMD (two float64 lanes) at ~3× the speed of a `Math.exp` loop (bench/kernel.mjs).
 *
 * Method: Tang's table-driven exponential (P. T. P. Tang, "Table-driven implementation of the exponential function
 * in IEEE floating-point arithmetic", ACM TOMS 15(2), 1989, pp. 144–157), with N = 128 and the exponent folded into
 * the table entry as in ARM's optimized-routines `exp` (Szabolcs Nagy, 2018).
 *   1. Reduction. n = round(x·N/ln2) = N·k + j with 0 ≤ j < N, r = x − n·ln2/N, so |r| ≤ (1/2 + 2^−35)·ln2/N
 *      < 0.00271. ln2/N = L1 + L2 (Cody–Waite), L1 with 35 significant bits, so n·L1 is exact for |n| < 2^18;
 *      x − n·L1 is exact too (Sterbenz's lemma for |n| ≥ 2; for |n| ≤ 1 the difference is a multiple of ulp(x)
 *      below 2^−8). The remaining roundings (n·L2, the last addition) and the error of L1 + L2 are < 2^−61.9.
 *   2. Approximation. e^r − 1 ≈ p(r) = r + r²/2 + r³/6 + r⁴/24 + r⁵/120 (Taylor): truncation error
 *      < r⁶/720·e^|r| < 2^−60.6; evaluation error < 2^−60.9.
 *   3. Reconstruction. 2^(j/N) = T_j·(1 + t_j), T_j the nearest float64 and t_j its relative error rounded (106 bits
 *      together); S = 2^k·T_j is exact, and e^x = S·(1 + t_j)(1 + p) ≈ S + S·q with q = t_j + p (the dropped t_j·p
 *      is < 2^−61.5). With the rounding of S·q (< S·2^−61), everything before the last addition is off by less
 *      than 0.016 ulp of the result, so the result is within 0.516 ulp: the correctly rounded value or, rarely, a
 *      neighbour. test/kernel/exp.test.ts measures the error against an exact reference.
 * Outside [−700, 709] (results near or below the subnormal range, overflow, ±Infinity, NaN) `Math.exp` is used, so
 * e^−Infinity is exactly 0; the bound −700 keeps S·q normal, so that the scaling by 2^k is exact.
 *
 * The fused sum adds one step: z − m is rounded before it reaches exp (by up to 2^−44 absolute once |z − m| ≥ 512,
 * a relative error of 2^−44 in the term), so its rounding error d is recovered with Knuth's TwoSum and added to r;
 * every term is then within 0.516 ulp of e^(z − m) for the exact difference (below −700, `Math.exp(x)·(1 + d)`,
 * within 1.5 ulp). The terms are summed with Neumaier's compensated summation (Neumaier 1974), one running sum per
 * SIMD lane, so the sum's relative error stays at a few ulps whatever the number of terms.
 *
 * Why WebAssembly: `Math.exp` is an out-of-line call in V8; the same ~25 flops in JavaScript pay for typed-array
 * bounds checks and tagging and gain ~1.5×, in WebAssembly SIMD ~3×. The module (~650 bytes) is assembled below from
 * named opcodes (WebAssembly Core Specification 2.0, §5.4, including the 128-bit SIMD instructions), so no build
 * step or binary file is needed; where WebAssembly is unavailable the same arithmetic runs in JavaScript.
 */

import { NonNegativeSum, pow2 } from './float64.js';
import { CONST_AT, DATA_AT, STATE_AT, SUM_KERNEL_CONSTANTS as CONSTANTS, TABLE_AT, assembleSumKernel, type SumKernelConstant } from './wasmSumKernel.js';

/** Table size N = 2^TABLE_BITS. */
const TABLE_BITS = 7;
const N = 1 << TABLE_BITS;
const J_MASK = N - 1;
/** N/ln2, rounded: its rounding can only move n by one, and |r| stays within the bound above. */
const N_OVER_LN2 = 184.6649652337873;
/** ln2/N = L1 + L2 to ~2^−97: L1 = 23816355775·2^−42 has 35 significant bits. */
const LN2_OVER_N_HI = 0.0054152123482253955;
const LN2_OVER_N_LO = -1.0082281460997769e-13;
/** 1.5·2^52: x·N/ln2 + ROUND_SHIFT rounds to the integer n (ties to even), held in the low bits of the mantissa. */
const ROUND_SHIFT = 6755399441055744;
const C2 = 0.5;
const C3 = 1 / 6;
const C4 = 1 / 24;
const C5 = 1 / 120;
/** The fast path's domain: e^−700 ≈ 9.9e-305 keeps S·q normal; e^709 ≈ 8.2e307 is finite. */
const FAST_MIN = -700;
const FAST_MAX = 709;

/**
 * EXP_TABLE[2j] = T_j, the float64 nearest to 2^(j/128), and EXP_TABLE[2j + 1] = t_j = (2^(j/128) − T_j)/T_j rounded
 * to float64; generated in 80-digit decimal arithmetic (decimal.js) and checked by the tests.
 */
export const EXP_TABLE: Float64Array = Float64Array.from([
  1, 0, 1.0054299011128027, 9.447885451727066e-17,
  1.0108892860517005, -1.507066976926039e-17, 1.016378314910953, -5.679155082825012e-17,
  1.0218971486541166, 4.9997448722726326e-17, 1.0274459491187637, -4.823683599994895e-17,
  1.0330248790212284, 7.357846871247418e-18, 1.0386341019613787, 5.773230223741951e-17,
  1.0442737824274138, 8.189317638195515e-17, 1.0499440858006872, 5.326891139980878e-17,
  1.0556451783605572, 1.6665881442326747e-18, 1.061377227289262, -1.128113245461828e-17,
  1.0671404006768237, -7.402825309426177e-17, 1.0729348675259756, -3.578659767309563e-18,
  1.0787607977571199, -6.170654745608695e-17, 1.0846183622133092, 2.919139999949279e-17,
  1.0905077326652577, -2.7939114859515733e-17, 1.0964290818163769, -5.399285355184285e-17,
  1.102382583307841, 4.776959425256223e-17, 1.1083684117236787, -7.927701432338473e-17,
  1.1143867425958924, 9.341710609905046e-17, 1.1204377524096067, -5.534520675707472e-17,
  1.1265216186082418, 4.585670326662351e-17, 1.1326385195987192, 2.8582430411116143e-17,
  1.1387886347566916, 7.826573258636076e-17, 1.1449721444318042, 4.053626906769216e-17,
  1.1511892299529827, 2.823784425951061e-17, 1.1574400736337511, -7.882802262487991e-17,
  1.1637248587775775, 3.2904726646008416e-17, 1.1700437696832502, -1.5792094703347882e-18,
  1.1763969916502812, 4.721368121170128e-17, 1.182784710984341, 1.3045277096919659e-17,
  1.189207115002721, 3.3484623336251524e-17, 1.1956643920398273, 3.8611199774925664e-17,
  1.202156731452703, 5.527550048505249e-17, 1.2086843236265816, -3.927184172445234e-17,
  1.215247359980469, -6.346552106729483e-17, 1.2218460329727576, -8.684417614865944e-17,
  1.22848053610687, -1.5456342819397733e-17, 1.2351510639369334, -8.70763476495455e-17,
  1.241857812073484, 3.750854201303127e-17, 1.2486009771892048, -6.616854503526488e-17,
  1.255380757024691, -5.346099009198751e-18, 1.2621973503942507, -2.443726321015018e-17,
  1.2690509571917332, 2.1023049675215714e-18, 1.275941778396392, 7.771067937501065e-17,
  1.2828700160787783, 1.3357510088834541e-17, 1.2898358734066657, 6.938291696959204e-17,
  1.2968395546510096, 1.9572585293112036e-17, 1.3038812651919358, 6.632256961675804e-17,
  1.3109612115247644, -5.478069123926778e-17, 1.318079601266064, -4.140839310392624e-17,
  1.3252366431597413, -2.1571477251208752e-17, 1.3324325470831615, -3.8287766552120535e-17,
  1.339667524053303, 6.663804589232195e-17, 1.3469417862329458, 2.3936187400285282e-17,
  1.3542555469368927, 5.68648095791174e-17, 1.3616090206382248, 1.1264523354521684e-18,
  1.3690024229745905, 7.007875046906994e-17, 1.3764359707545302, -5.0119214278381254e-17,
  1.383909881963832, -4.8923067513522756e-17, 1.3914243757719262, -3.5260089953269434e-17,
  1.3989796725383112, -6.872303720902018e-17, 1.4065759938190154, 5.001446664133532e-18,
  1.4142135623730951, -6.835808657661922e-17, 1.4218926021691656, -1.1307344092910212e-17,
  1.42961333839197, -8.416011634717156e-18, 1.4373759974489824, -2.9247977035436566e-17,
  1.4451808069770467, -2.092304381843353e-17, 1.4530279958490526, -3.9778645875427124e-17,
  1.460917794180647, -3.833464968654295e-17, 1.4688504333369818, 5.763611164480894e-17,
  1.4768261459394993, -2.3591094770850053e-17, 1.4848451658727524, 7.260074661098575e-17,
  1.4929077282912648, 9.50689710108796e-18, 1.5010140696264256, -4.272956133839906e-17,
  1.5091644275934228, -6.735219232374683e-17, 1.5173590411982147, -2.8396044410430936e-17,
  1.5255981507445384, -7.226635472101257e-17, 1.533881997840956, 5.786121003395918e-17,
  1.5422108254079407, 5.1548301170786783e-17, 1.550584877685, -9.416257568878152e-18,
  1.559004400237837, 2.4253985766689806e-17, 1.567469639965553, -6.604314051707707e-17,
  1.5759808451078865, -6.432131775424189e-18, 1.5845382652524937, -1.2204007601863921e-17,
  1.593142151342267, -6.336161863401293e-17, 1.6017927556826934, -3.7800879246373815e-17,
  1.6104903319492543, 1.5341410053603723e-17, 1.6192351351948637, 1.2932855580427452e-17,
  1.6280274218573478, -4.123367330661149e-17, 1.6368674497669644, 4.703083974463456e-17,
  1.645755478153965, -6.152602891550265e-17, 1.6546917676561943, 5.827849326195279e-17,
  1.6636765803267364, 3.540948262646183e-17, 1.6727101796415966, -3.2741571320938764e-17,
  1.681792830507429, 4.875160526227062e-17, 1.6909247992693053, -5.718569790077838e-17,
  1.7001063537185235, -4.719539664590972e-18, 1.709337763100463, -5.773451958805706e-17,
  1.718619298122478, -1.0772487078934056e-17, 1.7279512309618377, -6.221808618533911e-17,
  1.7373338352737062, 1.821405440362259e-17, 1.746767386199169, -6.155536546227639e-17,
  1.7562521603732995, 1.685487290628973e-17, 1.7657884359332727, 5.3581249177694816e-17,
  1.7753764925265212, 3.621615935336894e-17, 1.785016611318935, 8.588379527574144e-18,
  1.7947090750031072, 1.01562190116415e-17, 1.804454167806624, -2.869134889187244e-17,
  1.8142521755003989, -5.495118966122005e-17, 1.8241033854070534, -5.56965572431627e-17,
  1.8340080864093424, 1.790126907604513e-17, 1.843966568958626, -3.2211766346200164e-17,
  1.8539791250833855, 5.265370768556274e-17, 1.864046048397789, 3.5089866402403033e-17,
  1.8741676341103, -3.266924100901318e-17, 1.8843441790323345, -4.3657593008079375e-17,
  1.8945759815869656, 1.7963932659833022e-17, 1.9048633418176741, 3.4300925275214166e-17,
  1.9152065613971474, -5.545065618639427e-17, 1.925605943636125, -5.149009745457733e-17,
  1.9360617934922943, 5.336805878514151e-17, 1.9465744175792332, 3.498978661192973e-17,
  1.9571441241754002, 4.5784915277060095e-17, 1.9677712232331759, -5.241934575393899e-17,
  1.978456026387951, 2.0414278897578303e-17, 1.9891988469672663, 4.124842848606488e-18,
]);

/** e^x within 1 ulp (< 0.516 ulp); `Math.exp(x)` outside [−700, 709], so exp(−Infinity) = 0 and exp(NaN) is NaN. */
export function exp(x: number): number {
  if (!(x >= FAST_MIN && x <= FAST_MAX)) return Math.exp(x);
  return expNear(x, 0);
}

/**
 * e^(x + d) for x ∈ [FAST_MIN, FAST_MAX] and a correction |d| ≤ ulp(x)/2: steps 1–3 above, operation for operation as
 * in the WebAssembly kernel, so both give bit-identical terms.
 */
function expNear(x: number, d: number): number {
  const nf = x * N_OVER_LN2 + ROUND_SHIFT - ROUND_SHIFT;
  const n = nf | 0;
  const r = x - nf * LN2_OVER_N_HI + (d - nf * LN2_OVER_N_LO);
  const i = (n & J_MASK) << 1;
  const r2 = r * r;
  const q = EXP_TABLE[i + 1]! + r + r2 * (C2 + r * C3 + r2 * (C4 + r * C5));
  const scale = pow2(n >> TABLE_BITS) * EXP_TABLE[i]!;
  return scale + scale * q;
}

/**
 * Σ_{c ∈ [0, n), c ≠ skip} e^(input[offset + c] − m), Neumaier-compensated, each term within 1 ulp of e^(z_c − m) for
 * the exact difference (see above). For the kernel's log-sum-exp: m is the row's maximum and skip its index (that term
 * is exactly 1 and is added by log1p). Allocation-free; any m works (arguments outside [−700, 709] go to `Math.exp`),
 * and skip outside [0, n) leaves out nothing. Rows of at least WASM_MIN_LENGTH values use the WebAssembly kernel.
 */
export function sumExpShifted(input: Float64Array, offset: number, n: number, m: number, skip: number): number {
  if (offset < 0 || offset + n > input.length) {
    throw new RangeError(`sumExpShifted: values [${offset}, ${offset + n}) of ${input.length}`);
  }
  if (wasm !== null && n >= WASM_MIN_LENGTH) return sumExpShiftedWasm(wasm, input, offset, n, m, skip);
  return sumExpShiftedJs(input, offset, n, m, skip);
}

/** Which implementation `sumExpShifted` uses for long rows. */
export function sumExpBackend(): 'wasm-simd128' | 'js' {
  return wasm === null ? 'js' : 'wasm-simd128';
}

/**
 * The JavaScript path: the same terms as the WebAssembly kernel, summed in order with one Neumaier sum; terms outside
 * the fast domain are added afterwards (keeping the `Math.exp` call out of the main loop keeps it fast).
 */
export function sumExpShiftedJs(input: Float64Array, offset: number, n: number, m: number, skip: number): number {
  const sum = jsSum.reset();
  let slow = false;
  const end = offset + n;
  const skipAt = offset + skip;
  for (let i = offset; i < end; i++) {
    const z = input[i]!;
    const x = z - m;
    if (!(x >= FAST_MIN && x <= FAST_MAX) || i === skipAt) {
      slow ||= i !== skipAt;
      continue;
    }
    const b = x - z; // TwoSum(z, −m): x + d = z − m exactly
    sum.add(expNear(x, z - (x - b) + (-m - b)));
  }
  if (slow) addSlowTerms(input, offset, n, m, skip, sum);
  return sum.value;
}

/**
 * Adds to `sum` the terms whose argument is outside the fast domain (masked classes, e^(z − m) below ~1e-304), by
 * `Math.exp` (< 1 ulp) times 1 + d for the rounding error d of z − m, so that these terms too are close to e^(z − m).
 */
function addSlowTerms(input: Float64Array, offset: number, n: number, m: number, skip: number, sum: NonNegativeSum): void {
  for (let c = 0; c < n; c++) {
    if (c === skip) continue;
    const z = input[offset + c]!;
    const x = z - m;
    if (x >= FAST_MIN && x <= FAST_MAX) continue;
    let y = Math.exp(x);
    if (y > 0 && y < Infinity) {
      const b = x - z;
      y += y * (z - (x - b) + (-m - b));
    }
    sum.add(y);
  }
}

/** Values copied per call: 32 KiB, so the chunk stays in L1 cache while it is summed. */
const CHUNK = 4096;

/** Accumulators reused by every call (the kernel is synchronous and single-threaded per isolate). */
const jsSum = new NonNegativeSum();
const wasmSum = new NonNegativeSum();

/** Below this row length the JavaScript loop beats copying into WebAssembly memory and calling (crossover 16–24). */
export const WASM_MIN_LENGTH = 20;

const CONSTANT_VALUES: Record<Exclude<SumKernelConstant, 'm' | '-m'>, number> = {
  FAST_MIN,
  FAST_MAX,
  'N/ln2': N_OVER_LN2,
  SHIFT: ROUND_SHIFT,
  L1: LN2_OVER_N_HI,
  L2: LN2_OVER_N_LO,
  C2,
  C3,
  C4,
  C5,
};

interface WasmKernel {
  f64: Float64Array;
  /** Adds the terms of the pairs in bytes [from, to) to the lane sums; returns how many lanes took the fast path. */
  sum: (from: number, to: number) => number;
}

function sumExpShiftedWasm(
  kernel: WasmKernel,
  input: Float64Array,
  offset: number,
  n: number,
  m: number,
  skip: number,
): number {
  const { f64 } = kernel;
  const data = DATA_AT / 8;
  f64.fill(0, STATE_AT / 8, STATE_AT / 8 + 4);
  f64[CONST_AT / 8] = m;
  f64[CONST_AT / 8 + 1] = m;
  f64[CONST_AT / 8 + 2] = -m;
  f64[CONST_AT / 8 + 3] = -m;
  let fast = 0;
  for (let a = 0; a < n; a += CHUNK) {
    const length = Math.min(CHUNK, n - a);
    f64.set(input.subarray(offset + a, offset + a + length), data);
    // −Infinity takes the slow path, whose lanes the kernel leaves out; the JavaScript fix-up below skips them.
    if (skip >= a && skip < a + length) f64[data + skip - a] = -Infinity;
    let padded = length;
    if (padded & 1) f64[data + padded++] = -Infinity;
    fast += kernel.sum(DATA_AT, DATA_AT + padded * 8);
  }
  // The two lanes' sums and compensations, combined by one more compensated step.
  const sum = wasmSum.reset();
  sum.add(f64[STATE_AT / 8]!);
  sum.add(f64[STATE_AT / 8 + 1]!);
  sum.low += f64[STATE_AT / 8 + 2]! + f64[STATE_AT / 8 + 3]!;
  if (fast < (skip >= 0 && skip < n ? n - 1 : n)) addSlowTerms(input, offset, n, m, skip, sum);
  return sum.value;
}

/** The parts of the WebAssembly JS API used here (not in the ES2023 lib). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

const wasm: WasmKernel | null = instantiateSumKernel();

function instantiateSumKernel(): WasmKernel | null {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (api === undefined) return null;
  let kernel: Record<string, unknown>;
  try {
    kernel = new api.Instance(new api.Module(assembleSumKernel(J_MASK)), {}).exports;
  } catch {
    return null; // no SIMD support: the JavaScript path computes the same terms
  }
  const buffer = (kernel['memory'] as { buffer: ArrayBuffer }).buffer;
  const f64 = new Float64Array(buffer);
  const u32 = new Uint32Array(buffer);
  for (let j = 0; j < N; j++) {
    f64[TABLE_AT / 8 + 2 * j] = EXP_TABLE[2 * j + 1]!;
    f64[TABLE_AT / 8 + 2 * j + 1] = EXP_TABLE[2 * j]!;
    // bits(T_j) − j·2^45 (only the high word changes): adding n·2^45 = k·2^52 + j·2^45 then gives bits(2^k·T_j).
    u32[TABLE_AT / 4 + 4 * j + 3] = u32[TABLE_AT / 4 + 4 * j + 3]! - j * 2 ** 13;
  }
  CONSTANTS.forEach((name, index) => {
    if (name === 'm' || name === '-m') return;
    f64[CONST_AT / 8 + 2 * index] = CONSTANT_VALUES[name];
    f64[CONST_AT / 8 + 2 * index + 1] = CONSTANT_VALUES[name];
  });
  return { f64, sum: kernel['sum'] as WasmKernel['sum'] };
}
