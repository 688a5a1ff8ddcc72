/**
 * Buffers kept for the large tensors of one request after another, in a thread that scores requests one at a time
 * from start to end (a pool worker: reuseTensorBuffers()). A fresh 3 MB Float64Array per request costs its page
 * faults and zeroing, and a garbage collection every few requests: about 2 ms of a worker's 7 ms for an 8 × 50257
 * FP32 batch, and 1.5-2 ms of the 15 ms the JSON reader takes for the same batch as text. Both decoders take their
 * large tensors from here: the binary one (oip/datatypes.ts) knows a tensor's length first, the JSON reader
 * (json/fastReader.ts) grows one as it reads. Null: off (the event loop, tests), every tensor is a new array.
 */
let kept: Float64Array[] | null = null;
/** Which kept buffer the current request's next large tensor takes. */
let nextKept = 0;
/** Tensors from this many elements take a kept buffer... */
export const KEEP_FROM = 64 * 1024;
/** ...up to this many (16 MiB each, at most two per request: the input, and targets of its shape). */
const KEEP_UP_TO = 2 ** 21;
const KEPT_PER_REQUEST = 2;

/**
 * From now on, in this thread, large decoded tensors reuse buffers kept from the previous request: each request
 * (the decoders call beginTensors() as they start one) must be done with its tensors before the next one is decoded.
 */
export function reuseTensorBuffers(): void {
  kept ??= [];
}

/** A request begins: its tensors may take the buffers the previous request's had. */
export function beginTensors(): void {
  nextKept = 0;
}

/** A tensor of exactly `count` elements: a view of a kept buffer when it is large and one is free, else a new array. */
export function tensorOf(count: number): Float64Array {
  if (kept === null || count < KEEP_FROM || count > KEEP_UP_TO || nextKept >= KEPT_PER_REQUEST) return new Float64Array(count);
  let buffer = kept[nextKept];
  if (buffer === undefined || buffer.length < count) buffer = kept[nextKept] = new Float64Array(count);
  nextKept++;
  return buffer.length === count ? buffer : buffer.subarray(0, count);
}

/**
 * For a reader that does not know a tensor's length yet: a kept buffer's slot for a tensor expected to need
 * `capacity` elements, or -1 (then it allocates as usual). The reader fills keptBuffer(slot, n), which may be longer
 * than asked, grows it with keptBuffer(slot, larger) (the old contents are not copied: the reader copies what it
 * has read), and returns a view of what it filled.
 */
export function keepSlot(capacity: number): number {
  if (kept === null || capacity < KEEP_FROM || nextKept >= KEPT_PER_REQUEST) return -1;
  return nextKept++;
}

/** The kept buffer of `slot`, at least `capacity` elements long (and at most KEEP_UP_TO, unless `capacity` is more). */
export function keptBuffer(slot: number, capacity: number): Float64Array {
  let buffer = kept![slot];
  if (buffer === undefined || buffer.length < capacity) {
    buffer = new Float64Array(capacity);
    if (capacity <= KEEP_UP_TO) kept![slot] = buffer;
  }
  return buffer;
}
