import { createReadStream, fstatSync, statSync } from 'node:fs';
import { ERRORS, ProblemError, problemDocument, type ErrorCode, type ProblemDocument } from '../codec/problems.js';

/** A file named on the command line, or standard input (`-`). */
export interface Input {
  /** As the messages name it: the path given, or `stdin`. */
  name: string;
  /** Its size when it is a regular file (progress and ETA), else null. */
  size: number | null;
  open(): AsyncIterable<Uint8Array | string>;
}

/** What went wrong with the input: a problem document (as the service writes it) with the file and line it is in. */
export class InputError extends Error {
  constructor(
    readonly problem: ProblemDocument,
    readonly file: string | null,
    /** False for a problem of this program's own (a file it cannot read), which the service's codes do not name. */
    readonly coded = true,
  ) {
    super(problem.detail);
    this.name = 'InputError';
  }

  /** A problem raised while reading `file` (a refused line, a line too long, a file that cannot be read). */
  static of(err: unknown, file: string | null): InputError {
    if (err instanceof InputError) return err;
    if (err instanceof ProblemError) return new InputError(problemDocument(err.code, err.issues, undefined, err.line), file);
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('E')) {
      return InputError.plain('XENT_BAD_REQUEST', `cannot read it: ${(err as Error).message}`, file, false);
    }
    throw err;
  }

  static plain(code: ErrorCode, detail: string, file: string | null, coded = true): InputError {
    return new InputError(problemDocument(code, [{ code, pointer: '', detail }]), file, coded);
  }

  /** `file:line: detail [CODE at pointer]`, as compilers name places. */
  describe(): string {
    const p = this.problem;
    const where = [this.file, p.line].filter((x) => x !== null && x !== undefined).join(':');
    const more = (p.errors?.length ?? 0) > 1 ? ` (and ${p.errors!.length - 1} more problems in this line)` : '';
    return `${where === '' ? '' : `${where}: `}${p.detail}${more}${this.coded ? ` [${p.code}]` : ''}`;
  }
}

/**
 * The inputs named on the command line, each checked to exist and be readable as a file (or `-`, standard input)
 * before anything is scored, so that a typo in the last name does not waste the first files' work.
 */
export function inputsOf(names: string[]): Input[] {
  if (names.filter((n) => n === '-').length > 1) throw new UsageError('standard input (-) can be read once only');
  return names.map((name) => {
    if (name === '-') {
      let size: number | null = null;
      try {
        const stat = fstatSync(0);
        if (stat.isFile()) size = stat.size;
      } catch {
        // no size: no ETA
      }
      return { name: 'stdin', size, open: () => process.stdin };
    }
    let size: number | null;
    try {
      const stat = statSync(name);
      if (stat.isDirectory()) throw InputError.plain('XENT_BAD_REQUEST', 'is a directory, not an NDJSON file', name, false);
      size = stat.isFile() ? stat.size : null;
    } catch (err) {
      throw InputError.of(err, name);
    }
    return { name, size, open: () => createReadStream(name, { highWaterMark: 1 << 20 }) };
  });
}

/** The total size of the inputs when every one is a regular file of known size. */
export function totalSize(inputs: Input[]): number | null {
  let total = 0;
  for (const input of inputs) {
    if (input.size === null) return null;
    total += input.size;
  }
  return total;
}

/** A command line that cannot be run (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Whether a problem is one of the catalog's (a document the service or the codec wrote). */
export function isProblemDocument(value: unknown): value is ProblemDocument {
  return typeof value === 'object' && value !== null && typeof (value as ProblemDocument).code === 'string' && (value as ProblemDocument).code in ERRORS;
}
