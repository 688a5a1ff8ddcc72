import { describe, expect, it } from 'vitest';
import { decodeInferenceRequest } from '../../src/codec/oip/decode.js';
import { readScoreRequest } from '../../src/codec/json/fastReader.js';
import { reuseTensorBuffers } from '../../src/codec/tensorBuffers.js';

/** A binary inference request: logits [n, c] FP32 from `f`, and targets of the same shape FP64 (one-hot on class 0). */
function request(n: number, c: number, f: (i: number) => number) {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'logits', shape: [n, c], datatype: 'FP32', parameters: { binary_data_size: n * c * 4 } },
        { name: 'targets', shape: [n, c], datatype: 'FP64', parameters: { binary_data_size: n * c * 8 } },
      ],
    }),
  );
  const data = Buffer.alloc(n * c * 12);
  for (let i = 0; i < n * c; i++) {
    data.writeFloatLE(f(i), i * 4);
    data.writeDoubleLE(i % c === 0 ? 1 : 0, n * c * 4 + i * 8);
  }
  return { body: Buffer.concat([header, data]), headerLength: String(header.length) };
}

// This file's module state: reuse on, as in a pool worker (each test file runs in its own module graph).
reuseTensorBuffers();

describe('reuseTensorBuffers - a worker decodes one request after another into the same buffers', () => {
  it('large tensors: the second request takes the first one’s buffers, with its own values; input and targets never share one', () => {
    const limits = { maxElements: 1e7 };
    const a = request(4, 40_000, (i) => Math.fround(Math.sin(i)));
    const b = request(3, 40_000, (i) => Math.fround(Math.cos(i)));
    const first = decodeInferenceRequest(a.body, a.headerLength, limits).task;
    const firstInput = first.input;
    expect(first.targets).not.toBeNull();
    expect(first.input.buffer).not.toBe(first.targets!.buffer);
    const second = decodeInferenceRequest(b.body, b.headerLength, limits).task;
    expect(second.input.buffer).toBe(firstInput.buffer);
    expect(second.input.length).toBe(3 * 40_000);
    let wrong = 0;
    for (let i = 0; i < second.input.length; i++) if (second.input[i] !== Math.fround(Math.cos(i))) wrong++;
    expect(wrong).toBe(0);
  });

  it('small tensors are new arrays every time', () => {
    const limits = { maxElements: 1e7 };
    const a = request(2, 100, (i) => i);
    const first = decodeInferenceRequest(a.body, a.headerLength, limits).task.input;
    const second = decodeInferenceRequest(a.body, a.headerLength, limits).task.input;
    expect(second.buffer).not.toBe(first.buffer);
    expect(Array.from(second)).toEqual(Array.from(first));
  });
});

describe('reuseTensorBuffers - the JSON reader takes kept buffers too', () => {
  /** A /cost body as text: logits [n][c] from `f` printed with toPrecision(7), and labels, in the given key order. */
  function jsonBody(n: number, c: number, f: (i: number) => number, labelsFirst = false): { bytes: Uint8Array; values: number[] } {
    const values: number[] = [];
    const rows: string[] = [];
    for (let r = 0; r < n; r++) {
      const row: string[] = [];
      for (let k = 0; k < c; k++) {
        const text = f(r * c + k).toPrecision(7);
        row.push(text);
        values.push(Number(text));
      }
      rows.push(`[${row.join(',')}]`);
    }
    const logits = `"logits":[${rows.join(',')}]`;
    const labels = `"labels":[${Array.from({ length: n }, (_, r) => r % c).join(',')}]`;
    return { bytes: Buffer.from(`{${labelsFirst ? `${labels},${logits}` : `${logits},${labels}`}}`), values };
  }
  const limits = { maxElements: 1e7 };

  it('a large body after another: the same buffer, the second body’s values, equal to JSON.parse’s', () => {
    const a = jsonBody(3, 40_000, (i) => Math.sin(i) * 7);
    const b = jsonBody(2, 45_000, (i) => Math.cos(i) * 3);
    const first = readScoreRequest(a.bytes, limits)!.task.input;
    expect(first.length).toBe(3 * 40_000);
    const second = readScoreRequest(b.bytes, limits)!.task.input;
    expect(second.buffer === first.buffer).toBe(true); // not toBe: a failure would print two 1 MB buffers
    expect(second.length).toBe(2 * 45_000);
    let wrong = 0;
    for (let i = 0; i < second.length; i++) if (second[i] !== b.values[i]) wrong++;
    expect(wrong).toBe(0);
  });

  it('labels before the logits: each tensor has its own buffer and its own values', () => {
    const a = jsonBody(4, 30_000, (i) => (i % 97) - 48.5, true);
    const task = readScoreRequest(a.bytes, limits)!.task;
    expect(Array.from(task.labels!)).toEqual([0, 1, 2, 3]);
    expect(task.input.buffer === task.labels!.buffer).toBe(false);
    let wrong = 0;
    for (let i = 0; i < task.input.length; i++) if (task.input[i] !== a.values[i]) wrong++;
    expect(wrong).toBe(0);
  });
});
