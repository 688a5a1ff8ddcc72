import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sumExpBackend } from '../../src/kernel/exp.js';
import { assembleSumKernel, SUM_KERNEL_CONSTANTS } from '../../src/kernel/wasmSumKernel.js';

/** The parts of the WebAssembly JS API used here (not in the ES2023 lib). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

describe('assembleSumKernel', () => {
  const bytes = assembleSumKernel(127);

  it('the module bytes - pinned: a change to the emitted instructions must update this hash on purpose', () => {
    expect(bytes.length).toBe(561);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe('1c7403d2f228295825c43f777ee25317d0b142e88d14cd3d07cd21f714b69d80');
  });

  it('the header and sections - "\\0asm" version 1, then type, function, memory, export and code sections in order', () => {
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const ids: number[] = [];
    for (let p = 8; p < bytes.length; ) {
      ids.push(bytes[p]!);
      let size = 0;
      let shift = 0;
      let b: number;
      p++;
      do {
        b = bytes[p++]!;
        size |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80);
      p += size;
      expect(p).toBeLessThanOrEqual(bytes.length);
    }
    expect(ids).toEqual([1, 3, 5, 7, 10]);
  });

  it('validates and exports memory and sum - WebAssembly accepts it (this Node has SIMD)', () => {
    const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
    expect(wasm.validate(bytes)).toBe(true);
    const exports = new wasm.Instance(new wasm.Module(bytes), {}).exports;
    expect(Object.keys(exports).sort()).toEqual(['memory', 'sum']);
    expect(sumExpBackend()).toBe('wasm-simd128');
    expect(SUM_KERNEL_CONSTANTS).toHaveLength(12);
  });
});
