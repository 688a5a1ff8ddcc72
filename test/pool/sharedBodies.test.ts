import { afterEach, describe, expect, it, vi } from 'vitest';
import { SharedBodies } from '../../src/pool/sharedBodies.js';

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
