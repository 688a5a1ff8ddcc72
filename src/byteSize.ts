/**
 * Byte counts as people write them in configuration and read them in messages. Units are powers of 1024, as in the
 * `bytes` package that Express and Fastify users know (`100mb` = 100 MiB): b, kb, mb, gb, and kib, mib, gib as the
 * same, in any case, with an optional space; a plain number is bytes (`1e9` included, as before units were read).
 */

const UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 };

/** `64mb`, `1.5 GiB`, `1048576` as a whole number of bytes; null when it is not one. */
export function parseByteSize(text: string): number | null {
  const plain = Number(text.trim());
  if (text.trim() !== '' && Number.isSafeInteger(plain) && plain >= 0) return plain;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (match === null) return null;
  const unit = match[2]!.toLowerCase();
  // A fraction of a byte is no byte count; a fraction of a unit (1.5gb) is, rounded down.
  const scale = unit === '' ? null : UNITS[unit];
  if (scale === undefined || scale === null) return null;
  const bytes = Math.floor(Number(match[1]) * scale);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** A byte count for people, with a note on where it comes from: `67108864 bytes (64 MiB, BODY_LIMIT)`. */
export function describeBytes(bytes: number, note?: string): string {
  const short = shortBytes(bytes);
  const notes = [...(short === `${bytes} B` ? [] : [short]), ...(note === undefined ? [] : [note])];
  return notes.length === 0 ? `${bytes} bytes` : `${bytes} bytes (${notes.join(', ')})`;
}

/** `64 MiB`, `1.5 GiB`, `300 KiB`, `512 B`: the largest unit the count reaches, to three significant digits. */
export function shortBytes(bytes: number): string {
  for (const [unit, scale] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= scale) return `${Number((bytes / scale).toPrecision(3))} ${unit}`;
  }
  return `${bytes} B`;
}
