import { afterEach, describe, expect, it, vi } from 'vitest';
import { copyIntoShared, SharedBodies } from '../../src/pool/sharedBodies.js';

const MiB = 1024 * 1024;
let pool: SharedBodies | undefined;
afterEach(() => {
  pool?.close();
  pool = undefined;
  vi.useRealTimers();
});

describe('SharedBodies - shared buffers leased for bodies bound for a worker', () => {
  it('acquire - a view of exactly the length asked, on a SharedArrayBuffer of the next power of two, at least 256 KiB', () => {
    pool = new SharedBodies({ maxBytes: 64 * MiB, idleMs: 30_000 });
    const small = pool.acquire(1000)!;
    const large = pool.acquire(3 * MiB + 1)!;
    expect(small.bytes.length).toBe(1000);
    expect(small.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(small.bytes.buffer.byteLength).toBe(256 * 1024);
    expect(large.bytes.length).toBe(3 * MiB + 1);
    expect(large.bytes.buffer.byteLength).toBe(4 * MiB);
    expect(pool.bytes).toBe(256 * 1024 + 4 * MiB);
    expect(pool.leases).toBe(2);
  });

  it('acquire with an offset - the view starts that far into the buffer, whose size covers both', () => {
    pool = new SharedBodies({ maxBytes: 64 * MiB, idleMs: 30_000 });
    const lease = pool.acquire(4 * MiB - 2, 6)!;
    expect(lease.bytes.byteOffset).toBe(6);
    expect(lease.bytes.length).toBe(4 * MiB - 2);
    expect(lease.bytes.buffer.byteLength).toBe(8 * MiB);
  });

  it('release - the buffer is leased again for the next body of its size, and releasing twice changes nothing', () => {
    pool = new SharedBodies({ maxBytes: 64 * MiB, idleMs: 30_000 });
    const first = pool.acquire(3 * MiB)!;
    const buffer = first.bytes.buffer;
    first.release();
    first.release();
    expect(pool.leases).toBe(0);
    const second = pool.acquire(2.5 * MiB)!;
    expect(second.bytes.buffer).toBe(buffer);
    expect(pool.bytes).toBe(4 * MiB);
    // While it is leased, a third body of that size gets another buffer.
    expect(pool.acquire(3 * MiB)!.bytes.buffer).not.toBe(buffer);
  });

  it('release(bytes) - gives back the lease under any view of its buffer; bytes of another buffer are ignored', () => {
    pool = new SharedBodies({ maxBytes: 64 * MiB, idleMs: 30_000 });
    const lease = pool.acquire(MiB)!;
    pool.release(new Uint8Array(100));
    expect(pool.leases).toBe(1);
    pool.release(new Uint8Array(lease.bytes.buffer, 0, 10));
    expect(pool.leases).toBe(0);
  });

  it('maxBytes - no buffer beyond the bound: null, so the caller reads the body into its own', () => {
    pool = new SharedBodies({ maxBytes: 8 * MiB, idleMs: 30_000 });
    const a = pool.acquire(4 * MiB)!;
    expect(pool.acquire(4 * MiB)).not.toBeNull();
    expect(pool.acquire(MiB)).toBeNull();
    a.release();
    expect(pool.acquire(MiB)).toBeNull(); // the free 4 MiB buffer is not split
    expect(pool.acquire(3 * MiB)).not.toBeNull();
  });

  it('idleMs - free buffers unused that long are dropped, leased ones kept', () => {
    vi.useFakeTimers();
    pool = new SharedBodies({ maxBytes: 64 * MiB, idleMs: 10_000 });
    const kept = pool.acquire(MiB)!;
    pool.acquire(4 * MiB)!.release();
    expect(pool.bytes).toBe(5 * MiB);
    vi.advanceTimersByTime(16_000);
    expect(pool.bytes).toBe(MiB);
    kept.release();
    vi.advanceTimersByTime(16_000);
    expect(pool.bytes).toBe(0);
  });
});

describe('copyIntoShared - bytes into a shared buffer through an aligned staging copy', () => {
  it('pieces of every length at every alignment, longer than the 64 KiB staging buffer too - the bytes, in place, nothing else touched', () => {
    const target = new Uint8Array(new SharedArrayBuffer(400_000), 3, 399_990);
    const expected = new Uint8Array(399_990);
    let at = 0;
    for (const length of [1, 7, 8, 9, 65_535, 65_536, 65_537, 150_001, 1000]) {
      const source = Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 0xff);
      copyIntoShared(target, at, source);
      expected.set(source, at);
      at += length;
    }
    expect(at).toBeLessThan(target.length);
    expect(Buffer.from(target.buffer, 3, at).equals(Buffer.from(expected.subarray(0, at)))).toBe(true);
    expect(new Uint8Array(target.buffer, 3 + at, 10).every((b) => b === 0)).toBe(true);
    expect(new Uint8Array(target.buffer, 0, 3).every((b) => b === 0)).toBe(true);
  });
});
