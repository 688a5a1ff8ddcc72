import { ProblemError } from '../problems.js';
import { escapeToken, MAX_ECHOED_KEY } from '../pointer.js';
import { MAX_DIMENSIONS } from '../tensor.js';
import { cut, excerpt } from '../text.js';
import * as chars from './chars.js';

// Module-local copies of the byte codes: the optimizing compiler folds a module's own const into the code, while an
// imported binding is a live cell read and checked at every use (20 % of the reader's time in its digit loops).
const { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, COLON, COMMA, CR, DOT, LF, LOWER_E, MINUS, NINE, OPEN_BRACE, OPEN_BRACKET, PLUS, QUOTE, SPACE, TAB, UPPER_E, ZERO } = chars;

/**
 * Objects and arrays nest at most this deep in any request: a scoring request is an object of tensors, an inference
 * request an object holding an array of input objects holding a tensor, with room for parameters.
 */
export const MAX_NESTING = MAX_DIMENSIONS + 8;

/**
 * A tensor's arrays outnumber its numbers only in degenerate shapes ([N][1][1], or arrays of empty arrays, which no
 * valid tensor holds); past this many arrays such a run is refused: parsed, each array costs more memory than the text
 * that wrote it.
 */
const MAX_DEGENERATE_ARRAYS = 1_000_000;

export interface ScanLimits {
  /** Most numbers one tensor (a run of nested arrays under one object member) may hold. */
  maxElements: number;
}

/** What the scan found: whether the text is JSON, and the first reason to refuse it, if any. */
export interface ScanFindings {
  /** False when the text is not JSON: JSON.parse will throw, and say where. */
  syntaxOk: boolean;
  /** The first limit the text exceeds, or key it gives twice in one object. */
  refusal: ProblemError | null;
}


const OBJECT = 1;
const ARRAY = 2;

const LITERALS = [
  [0x74, 0x72, 0x75, 0x65], // true
  [0x66, 0x61, 0x6c, 0x73, 0x65], // false
  [0x6e, 0x75, 0x6c, 0x6c], // null
];

// ignoreBOM: a leading byte order mark stays in the text and JSON.parse refuses it, as a JSON parser must (RFC 8259 §8.1).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const latin1 = new TextDecoder('latin1');

/**
 * One cheap pass over JSON text that checks its syntax (RFC 8259, exactly what JSON.parse accepts) and finds, before
 * JSON.parse builds it, what no valid request holds: arrays nested deeper than a tensor's MAX_DIMENSIONS
 * (XENT_INVALID_SHAPE at the tensor), containers nested deeper than MAX_NESTING (XENT_BAD_REQUEST), a tensor of more
 * than `maxElements` numbers (XENT_TOO_MANY_ELEMENTS at the tensor), or of far more arrays than numbers, and a key
 * given twice in one object (XENT_DUPLICATE_FIELD: JSON.parse keeps the last value, and a scoring service must not
 * guess which one the client meant). JSON.parse of 64 MiB of nested arrays takes seconds and gigabytes; this pass
 * allocates nothing per value, only per object key. A tensor is a run of arrays nested in one another under one
 * object member (or at the top).
 */
export function scanJson(bytes: Uint8Array, end: number, limits: ScanLimits): ScanFindings {
  // The open containers, innermost last: kind (grown as needed: text nested too deep is refused, but its syntax still
  // checked), and for the first MAX_NESTING: the element index (arrays) or current key (objects), the keys seen
  // (objects), and for arrays the depth within their tensor and the index of the tensor's outermost array.
  let kind = new Uint8Array(MAX_NESTING + 1);
  const index = new Float64Array(MAX_NESTING + 1);
  const key = new Array<string>(MAX_NESTING + 1).fill('');
  const keys = new Array<Set<string> | null>(MAX_NESTING + 1).fill(null);
  const runDepth = new Uint8Array(MAX_NESTING + 1);
  const runRoot = new Int32Array(MAX_NESTING + 1);
  const runNumbers = new Float64Array(MAX_NESTING + 1);
  const runArrays = new Float64Array(MAX_NESTING + 1);
  let top = -1;
  let refusal: ProblemError | null = null;
  const refuse = (problem: ProblemError): void => {
    refusal ??= problem;
  };

  /** The JSON pointer of the value at `depth` (inside the container at depth − 1), as far as keys can be echoed. */
  const pointerOf = (depth: number): string => {
    let p = '';
    for (let d = 0; d < depth; d++) {
      if (kind[d] === ARRAY) {
        p += `/${index[d]}`;
      } else {
        if (key[d]!.length > MAX_ECHOED_KEY) return p;
        p += `/${escapeToken(key[d]!)}`;
      }
    }
    return p;
  };

  const countNumber = (): void => {
    if (top < 0 || top >= MAX_NESTING || kind[top] !== ARRAY || refusal !== null) return;
    const root = runRoot[top]!;
    if (++runNumbers[root]! > limits.maxElements) {
      refuse(ProblemError.of('XENT_TOO_MANY_ELEMENTS', pointerOf(root), `more than ${limits.maxElements} numbers in one tensor exceed the limit of ${limits.maxElements}`));
    }
  };

  const open = (k: number): void => {
    if (top + 1 >= MAX_NESTING) {
      if (top + 1 === MAX_NESTING) {
        refuse(ProblemError.of('XENT_BAD_REQUEST', pointerOf(top + 1), `the body nests objects and arrays more than ${MAX_NESTING} levels deep`));
      }
      if (top + 1 === kind.length) {
        const grown = new Uint8Array(kind.length * 2);
        grown.set(kind);
        kind = grown;
      }
      kind[++top] = k;
      return;
    }
    const inArray = top >= 0 && kind[top] === ARRAY;
    top++;
    kind[top] = k;
    if (k === OBJECT) {
      keys[top] = null;
      key[top] = '';
      return;
    }
    index[top] = 0;
    runDepth[top] = inArray ? runDepth[top - 1]! + 1 : 1;
    const root = inArray ? runRoot[top - 1]! : top;
    runRoot[top] = root;
    if (!inArray) {
      runNumbers[top] = 0;
      runArrays[top] = 0;
    } else if (refusal === null) {
      if (runDepth[top]! > MAX_DIMENSIONS) {
        refuse(ProblemError.of('XENT_INVALID_SHAPE', pointerOf(root), `more than ${MAX_DIMENSIONS} dimensions: the arrays are nested too deep`));
      } else if (++runArrays[root]! > MAX_DEGENERATE_ARRAYS && runArrays[root]! > runNumbers[root]! + MAX_DIMENSIONS + 1) {
        refuse(ProblemError.of('XENT_INVALID_SHAPE', pointerOf(root), `more than ${MAX_DEGENERATE_ARRAYS} arrays holding fewer numbers than arrays: not a tensor`));
      }
    }
  };

  const blank = (c: number | undefined) => c === SPACE || c === LF || c === CR || c === TAB;
  const digit = (c: number | undefined) => c !== undefined && c >= ZERO && c <= NINE;

  let p = 0;
  const skipBlanks = (): void => {
    while (p < end && blank(bytes[p])) p++;
  };
  /** Reads a string from its opening quote; its end (after the closing quote), or -1 at a syntax error. */
  const readString = (): number => {
    p++;
    while (p < end) {
      const c = bytes[p]!;
      if (c === QUOTE) return ++p;
      if (c < SPACE) return -1;
      if (c === BACKSLASH) {
        const e = bytes[p + 1];
        if (e === 0x75) {
          for (let i = 2; i < 6; i++) if (!isHex(bytes[p + i])) return -1;
          p += 6;
          continue;
        }
        if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) return -1;
        p += 2;
        continue;
      }
      p++;
    }
    return -1;
  };
  /** Reads a scalar other than a string at p; false at a syntax error. */
  const readScalar = (): boolean => {
    const c = bytes[p];
    if (c === MINUS || digit(c)) {
      if (c === MINUS) p++;
      if (bytes[p] === ZERO) p++;
      else if (digit(bytes[p])) while (digit(bytes[p])) p++;
      else return false;
      if (bytes[p] === DOT) {
        p++;
        if (!digit(bytes[p])) return false;
        while (digit(bytes[p])) p++;
      }
      if (bytes[p] === LOWER_E || bytes[p] === UPPER_E) {
        p++;
        if (bytes[p] === PLUS || bytes[p] === MINUS) p++;
        if (!digit(bytes[p])) return false;
        while (digit(bytes[p])) p++;
      }
      if (p > end) return false;
      countNumber();
      return true;
    }
    for (const literal of LITERALS) {
      if (c !== literal[0]) continue;
      for (let i = 1; i < literal.length; i++) if (bytes[p + i] !== literal[i]) return false;
      p += literal.length;
      if (p > end) return false;
      countNumber();
      return true;
    }
    return false;
  };

  // The grammar as a loop over values: after each value, the container it is in says what may follow.
  skipBlanks();
  for (;;) {
    // A value starts at p.
    if (p >= end) return { syntaxOk: false, refusal };
    const c = bytes[p]!;
    if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      open(c === OPEN_BRACKET ? ARRAY : OBJECT);
      p++;
      skipBlanks();
      if (bytes[p] === (c === OPEN_BRACKET ? CLOSE_BRACKET : CLOSE_BRACE) && p < end) {
        p++;
        top--;
      } else if (c === OPEN_BRACE) {
        if (!readKey()) return { syntaxOk: false, refusal };
        continue;
      } else {
        continue;
      }
    } else if (c === QUOTE) {
      if (readString() < 0 || p > end) return { syntaxOk: false, refusal };
      countNumber();
    } else if (!readScalar()) {
      // Python's json.dumps writes NaN and ±Infinity by default, and JSON has no such numbers: say so, and where.
      const token = NON_JSON_NUMBERS.find((t) => spells(bytes, p, end, t));
      if (token !== undefined) {
        const pointer = pointerOf(top + 1);
        return {
          syntaxOk: false,
          refusal: ProblemError.of(
            'XENT_INVALID_JSON',
            pointer,
            `${token} is not a JSON number (Python's json.dumps writes it unless allow_nan=False; numpy: check np.isfinite first); ` +
              'a masked class (-Infinity logit) can be sent in binary tensors of the inference protocol',
          ),
        };
      }
      return { syntaxOk: false, refusal };
    }
    // After a value: close containers, or go on to the next member or element.
    for (;;) {
      skipBlanks();
      if (top < 0) return { syntaxOk: p === end, refusal };
      if (p >= end) return { syntaxOk: false, refusal };
      const d = bytes[p]!;
      if (d === COMMA) {
        p++;
        skipBlanks();
        if (kind[top] === ARRAY) {
          if (top < MAX_NESTING) index[top]!++;
        } else if (!readKey()) {
          return { syntaxOk: false, refusal };
        }
        break;
      }
      if (d !== (kind[top] === ARRAY ? CLOSE_BRACKET : CLOSE_BRACE)) return { syntaxOk: false, refusal };
      p++;
      top--;
    }
  }

  /** Reads `"key":` at p in the object at `top`, noting the key and any repetition of it; false at a syntax error. */
  function readKey(): boolean {
    if (bytes[p] !== QUOTE) return false;
    const from = p + 1;
    if (readString() < 0 || p > end) return false;
    const to = p - 1;
    skipBlanks();
    if (bytes[p] !== COLON || p >= end) return false;
    p++;
    skipBlanks();
    if (top >= MAX_NESTING) return true;
    const name = keyText(bytes, from, to);
    let seen = keys[top];
    if (seen === undefined || seen === null) seen = keys[top] = new Set();
    key[top] = name;
    if (seen.has(name)) {
      refuse(ProblemError.of('XENT_DUPLICATE_FIELD', pointerOf(top + 1), `the key "${excerpt(name)}" appears twice in one object; give it once`));
    } else {
      seen.add(name);
    }
    return true;
  }
}

/** Non-finite numbers as JavaScript and Python write them, which JSON does not have. */
const NON_JSON_NUMBERS = ['NaN', '-NaN', 'Infinity', '-Infinity', '+Infinity', 'inf', '-inf', 'nan'];

/** Whether the bytes at `p` spell `token` and the token ends there (a delimiter, a blank or the end follows). */
function spells(bytes: Uint8Array, p: number, end: number, token: string): boolean {
  if (p + token.length > end) return false;
  for (let i = 0; i < token.length; i++) if (bytes[p + i] !== token.charCodeAt(i)) return false;
  const next = bytes[p + token.length];
  return p + token.length === end || next === COMMA || next === CLOSE_BRACKET || next === CLOSE_BRACE || next === SPACE || next === LF || next === CR || next === TAB;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

/** The text of a key between quotes: its bytes when plain ASCII, else decoded as JSON.parse would. */
function keyText(bytes: Uint8Array, from: number, to: number): string {
  let plain = true;
  for (let i = from; i < to && plain; i++) plain = bytes[i]! < 0x80 && bytes[i] !== BACKSLASH;
  if (plain) return latin1.decode(bytes.subarray(from, to));
  return JSON.parse(`"${utf8.decode(bytes.subarray(from, to))}"`) as string;
}

/**
 * JSON.parse of the first `end` bytes of a request body, after the scan: text that is not JSON is XENT_INVALID_JSON
 * with V8's message cut to a bounded length, then `hint(message)` (or, for a NaN or Infinity token, the scan's own
 * message at its pointer); JSON that the scan refuses is refused before it is built (a syntax error is named first,
 * wherever it is).
 */
export function parseJson(bytes: Uint8Array, end: number, limits: ScanLimits, hint: (message: string) => string = () => ''): unknown {
  const { syntaxOk, refusal } = scanJson(bytes, end, limits);
  if (refusal !== null && (syntaxOk || refusal.code === 'XENT_INVALID_JSON')) throw refusal;
  try {
    return JSON.parse(utf8.decode(bytes.subarray(0, end)));
  } catch (err) {
    const message = err instanceof Error ? err.message : 'unparseable';
    throw ProblemError.of('XENT_INVALID_JSON', '', `${cut(message)}${hint(message)}`);
  }
}
