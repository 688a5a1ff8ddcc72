/**
 * Shared buffers for the request bodies that are scored in a worker: each large body is read into one of a few
 * SharedArrayBuffers that live as long as the service, and the worker reads it there; nothing is allocated, copied
 * again or moved per request.
 *
 * Why: a body read into a buffer of its own (and moved to the worker) is a new external allocation of the event
 * loop's V8 heap for every request, 3.5 MB for an 8 × 50257 JSON batch. V8 answers a fast stream of those with
 * garbage collections on the event loop (scavenges "for external memory pressure" once 32 MB of young buffers have
 * been allocated, incremental marking once 64 MB of external memory have been reached), and those pauses, not the
 * moving of bytes, are what a probe waits for. Shared buffers are allocated once and never seen again by the GC.
 *
 * A buffer is leased for one body, from the moment its Content-Length is known until the worker has settled, then
 * given back. Buffers come in power-of-two sizes from 256 KiB; at most `maxBytes` of them exist at once, and one that
 * has not been used for `idleMs` is dropped, so the memory held returns to nothing when the load stops. When none is
 * free and no more may be made, the caller reads the body into a buffer of its own, as before.
 */

export interface SharedBodiesOptions {
  /** Most bytes of shared buffers at once, leased or free. */
  maxBytes: number;
  /** A free buffer unused for this long is dropped. */
  idleMs: number;
}

/**
 * A body's bytes on a shared buffer, until release(). Releasing twice is harmless; a lease whose bytes are dropped
 * unreleased (a body read but never scored) is given back when they are garbage collected.
 */
export interface BodyLease {
  readonly bytes: Buffer;
  release(): void;
}

const SMALLEST = 256 * 1024;

/** The size class of a body: the next power of two, at least SMALLEST. */
function classOf(length: number): number {
  return Math.max(SMALLEST, 2 ** Math.ceil(Math.log2(Math.max(1, length))));
}

/** A plain (not shared) buffer through which bytes are copied into shared ones: see copyIntoShared. */
const STAGING_BYTES = 64 * 1024;
const staging = new Uint8Array(STAGING_BYTES + 8);

/**
 * Copies `source` into the shared buffer under `target`, at `at`. V8 copies into shared memory with relaxed atomic
 * stores, a word at a time when source and target addresses are aligned alike modulo 8 and a byte at a time when
 * not, which is most of the time for socket chunks of any length: 0.6-0.9 ms for a 1.6 MB body against 0.1 ms. So
 * each piece first goes through a plain buffer, at the target's alignment (a memcpy), then across aligned.
 */
export function copyIntoShared(target: Uint8Array, at: number, source: Uint8Array): void {
  const misalignment = (target.byteOffset + at) & 7;
  for (let done = 0; done < source.length; done += STAGING_BYTES) {
    const n = Math.min(STAGING_BYTES, source.length - done);
    staging.set(n === source.length ? source : source.subarray(done, done + n), misalignment);
    target.set(staging.subarray(misalignment, misalignment + n), at + done);
  }
}

export class SharedBodies {
  readonly #options: SharedBodiesOptions;
  /** Free buffers by size, each with when it was last given back. */
  readonly #free = new Map<number, { buffer: SharedArrayBuffer; since: number }[]>();
  /** How to give back each leased buffer (never the lease's bytes, which must stay collectable). */
  readonly #leased = new Map<ArrayBufferLike, () => void>();
  readonly #unreleased = new FinalizationRegistry<() => void>((release) => release());
  #bytes = 0;
  #leases = 0;
  readonly #trim: NodeJS.Timeout;

  constructor(options: SharedBodiesOptions) {
    this.#options = options;
    this.#trim = setInterval(() => this.#dropIdle(), Math.max(1000, options.idleMs / 2)).unref();
  }

  /** Bytes of shared buffers held (leased or free). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bodies on a shared buffer right now. */
  get leases(): number {
    return this.#leases;
  }

  /**
   * A lease of `length` bytes on a shared buffer, starting `offset` bytes into it (0-7: so that data at a known place
   * in the body is aligned for typed arrays), or null if none is free and no more may be made.
   */
  acquire(length: number, offset = 0): BodyLease | null {
    const size = classOf(offset + length);
    let buffer = this.#free.get(size)?.pop()?.buffer;
    if (buffer === undefined) {
      if (this.#bytes + size > this.#options.maxBytes) return null;
      buffer = new SharedArrayBuffer(size);
      this.#bytes += size;
    }
    this.#leases++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#unreleased.unregister(buffer);
      this.#leased.delete(buffer);
      this.#leases--;
      const free = this.#free.get(size) ?? [];
      free.push({ buffer, since: Date.now() });
      this.#free.set(size, free);
    };
    const bytes = Buffer.from(buffer, offset, length);
    this.#unreleased.register(bytes, release, buffer);
    this.#leased.set(buffer, release);
    return { bytes, release };
  }

  /** Gives back the lease under `bytes`, if they are on a shared buffer of this pool. */
  release(bytes: Uint8Array): void {
    this.#leased.get(bytes.buffer)?.();
  }

  close(): void {
    clearInterval(this.#trim);
    this.#free.clear();
  }

  #dropIdle(): void {
    const before = Date.now() - this.#options.idleMs;
    for (const [size, free] of this.#free) {
      const kept = free.filter((f) => f.since > before);
      this.#bytes -= (free.length - kept.length) * size;
      this.#free.set(size, kept);
    }
  }
}
