/**
 * Triton's classification extension (docs/protocol/extension_classification.md in triton-inference-server/server): an
 * output requested with the parameter `"classification": k` is returned as a BYTES tensor of the k highest-valued
 * classes of each sample instead of its values, each element the string "<value>:<index>", where <value> is the
 * output's value for that class and <index> the class. Here the output is the model output the client sent, `logits`
 * or `probabilities`, so <value> is the logit or the probability as xent read it (after rounding to the tensor's
 * datatype, before any clipping). As Triton does (src/classification.cc, src/http_server.cc), k is clamped to the
 * number of classes and the shape is the samples' shape followed by k. Triton prints the value with
 * std::to_string (six decimals); xent prints the float64's shortest round-trip form, which parses back exactly.
 * Ties go to the lower index, as the accuracy's arg-max does.
 */

/** The most strings one answer carries (samples × k), as Triton bounds a classification (1,000,000 elements). */
export const MAX_CLASSIFICATION_STRINGS = 1_000_000;

/** Beyond this k a full sort of each row is cheaper than keeping the k best by insertion. */
const INSERTION_MAX_K = 32;

/**
 * The k highest-valued classes of each of `rows` rows of `classes` values (row-major), best first, as
 * "<value>:<index>" strings, row after row: rows × min(k, classes) strings. The values are finite or -Infinity (a
 * masked logit): the kernel has refused NaN and +Infinity before an answer is encoded.
 */
export function topClasses(values: Float64Array, rows: number, classes: number, k: number): string[] {
  const count = Math.min(k, classes);
  const out: string[] = new Array<string>(rows * count);
  const best = new Int32Array(count);
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    if (count <= INSERTION_MAX_K) keepBest(values, base, classes, best, count);
    else sortRow(values, base, classes, best, count);
    for (let j = 0; j < count; j++) out[r * count + j] = `${values[base + best[j]!]!}:${best[j]!}`;
  }
  return out;
}

/** The `count` best classes of one row, kept sorted by insertion: a class displaces only a strictly lower value. */
function keepBest(values: Float64Array, base: number, classes: number, best: Int32Array, count: number): void {
  let filled = 0;
  for (let c = 0; c < classes; c++) {
    const v = values[base + c]!;
    if (filled === count && !(v > values[base + best[count - 1]!]!)) continue;
    let j = filled < count ? filled++ : count - 1;
    while (j > 0 && v > values[base + best[j - 1]!]!) {
      best[j] = best[j - 1]!;
      j--;
    }
    best[j] = c;
  }
}

function sortRow(values: Float64Array, base: number, classes: number, best: Int32Array, count: number): void {
  const order = Array.from({ length: classes }, (_, c) => c);
  order.sort((a, b) => values[base + b]! - values[base + a]! || a - b);
  for (let j = 0; j < count; j++) best[j] = order[j]!;
}

const encoder = new TextEncoder();

/**
 * A BYTES tensor in the binary tensor data extension's form, as Triton writes it and its clients read it
 * (tritonclient.utils.deserialize_bytes_tensor): each element a little-endian uint32 length, then its bytes.
 */
export function encodeBytesTensor(strings: readonly string[]): Buffer {
  const encoded = strings.map((s) => encoder.encode(s));
  const out = Buffer.allocUnsafe(encoded.reduce((n, e) => n + 4 + e.length, 0));
  let offset = 0;
  for (const e of encoded) {
    out.writeUInt32LE(e.length, offset);
    out.set(e, offset + 4);
    offset += 4 + e.length;
  }
  return out;
}
