import { ProblemError } from './problems.js';

const NEWLINE = 0x0a;

/** One line of an NDJSON input: its bytes (without the newline or a CR before it) and its number, from 1. */
export interface Line {
  bytes: Uint8Array;
  line: number;
}

/**
 * The lines of an NDJSON byte stream as they arrive (POST /cost/stream's body, `xent score`'s files), numbered from 1
 * (blank ones included, so that numbers match an editor's), each at most `maxLineBytes` long, else a 413 problem
 * naming the line and `limitName`, the knob that sets the limit: memory is bounded by the longest line, never the
 * input. A last line without a newline is a line. `onBytes` is told how many bytes each chunk had, for progress.
 */
export async function* ndjsonLines(
  source: AsyncIterable<Uint8Array | string>,
  maxLineBytes: number,
  limitName: string,
  onBytes: (bytes: number) => void = () => {},
): AsyncGenerator<Line> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  const tooLong = (n: number) => ProblemError.of('XENT_BODY_TOO_LARGE', '', `line ${n} is longer than ${maxLineBytes} bytes (${limitName})`).inLine(n);
  for await (const piece of source) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    onBytes(chunk.length);
    let from = 0;
    for (let nl = chunk.indexOf(NEWLINE, from); nl >= 0; nl = chunk.indexOf(NEWLINE, from)) {
      line++;
      const bytes = pendingBytes === 0 ? chunk.subarray(from, nl) : Buffer.concat([...pending, chunk.subarray(from, nl)]);
      pending = [];
      pendingBytes = 0;
      from = nl + 1;
      if (bytes.length > maxLineBytes) throw tooLong(line);
      yield { bytes: withoutCarriageReturn(bytes), line };
    }
    if (from < chunk.length) {
      pending.push(Buffer.from(chunk.subarray(from))); // a copy: the chunk may be reused by its source
      pendingBytes += chunk.length - from;
      if (pendingBytes > maxLineBytes) throw tooLong(line + 1);
    }
  }
  if (pendingBytes > 0) yield { bytes: withoutCarriageReturn(Buffer.concat(pending)), line: line + 1 };
}

/** Whether a line holds nothing but spaces, tabs and carriage returns (skipped, as POST /cost/stream skips them). */
export function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

function withoutCarriageReturn(bytes: Buffer): Buffer {
  return bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, -1) : bytes;
}
