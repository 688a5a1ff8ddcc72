/**
 * The pre-parse scan (src/codec/json/scan.ts) must agree with JSON.parse on what is JSON, exactly: where it says
 * "syntax ok" and refuses a body, JSON.parse would have built it; where it says "not JSON", JSON.parse names the error.
 * Checked on random JSON values, on mutations of them (a byte inserted, deleted or replaced) and on hand-picked
 * corners; and its refusals (depth, size, duplicate keys) on bodies built for them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProblemError } from '../../src/codec/problems.js';
import { parseJson, scanJson } from '../../src/codec/json/scan.js';

const encoder = new TextEncoder();
const LIMITS = { maxElements: 1_000_000 };

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function syntaxOk(text: string | Uint8Array): boolean {
  const bytes = typeof text === 'string' ? encoder.encode(text) : text;
  return scanJson(bytes, bytes.length, LIMITS).syntaxOk;
}

const ALPHABET = [...'{}[]",:0123456789.eE+- \t\n\rtrufalsn\\/bx\u00e9\u2028\u0000'];

describe('scanJson - syntax', () => {
  it('agrees with JSON.parse on random JSON values', () => {
    fc.assert(
      fc.property(fc.json({ depthSize: 'medium' }), (text) => {
        expect(syntaxOk(text)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with JSON.parse on mutated JSON (a character inserted, deleted or replaced)', () => {
    fc.assert(
      fc.property(fc.json(), fc.nat(), fc.constantFrom(...ALPHABET), fc.constantFrom('insert', 'delete', 'replace'), (text, at, ch, how) => {
        const i = text.length === 0 ? 0 : at % text.length;
        const mutated = how === 'insert' ? text.slice(0, i) + ch + text.slice(i) : how === 'delete' ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + ch + text.slice(i + 1);
        expect(syntaxOk(mutated), JSON.stringify(mutated)).toBe(parses(mutated));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with JSON.parse on random strings of JSON\'s characters', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...ALPHABET), { maxLength: 24 }), (chars) => {
        const text = chars.join('');
        expect(syntaxOk(text), JSON.stringify(text)).toBe(parses(text));
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ['', false], [' ', false], ['0', true], ['-0', true], ['01', false], ['1.', false], ['.5', false], ['1e', false], ['1e+5', true],
    ['+1', false], ['-', false], ['tru', false], ['true', true], ['nulls', false], ['"\\u00zz"', false], ['"\\ud800"', true],
    ['"a\tb"', false], ['"\\/"', true], ['{"a":1,}', false], ['[1,]', false], ['[,1]', false], ['{"a" 1}', false], ['{1:2}', false],
    ['\ufeff{}', false], ['{}\u0000', false], ['{} ', true], ['[]]', false], ['\f1', false], ['"\u2028"', true],
  ])('%j - JSON: %s', (text, ok) => {
    expect(parses(text)).toBe(ok);
    expect(syntaxOk(text)).toBe(ok);
  });

  it('invalid UTF-8 inside strings is JSON (decoded as U+FFFD), outside them it is not', () => {
    expect(syntaxOk(Uint8Array.from([0x22, 0xff, 0x22]))).toBe(true);
    expect(syntaxOk(Uint8Array.from([0x5b, 0xff, 0x5d]))).toBe(false);
  });
});

describe('scanJson - refusals before the parse', () => {
  const refusal = (text: string, limits = LIMITS) => {
    try {
      parseJson(encoder.encode(text), Buffer.byteLength(text), limits);
      return null;
    } catch (err) {
      return err instanceof ProblemError ? { code: err.code, pointer: err.issues[0]!.pointer } : null;
    }
  };

  it('a tensor nested deeper than 32 dimensions, at the tensor', () => {
    expect(refusal(`{"logits": ${'['.repeat(33)}1${']'.repeat(33)}}`)).toEqual({ code: 'XENT_INVALID_SHAPE', pointer: '/logits' });
    expect(refusal(`{"logits": ${'['.repeat(32)}1${']'.repeat(32)}}`)).toBeNull();
  });

  it('more numbers in one tensor than allowed, at the tensor; other tensors count apart', () => {
    expect(refusal('{"a": [[1, 2], [3, 4]], "b": [1, 2, 3]}', { maxElements: 3 })).toEqual({ code: 'XENT_TOO_MANY_ELEMENTS', pointer: '/a' });
    expect(refusal('{"a": [1, 2, 3], "b": [1, 2, 3]}', { maxElements: 3 })).toBeNull();
  });

  it('a key twice in one object, at its second place, nested too; the same key in two objects is fine', () => {
    expect(refusal('{"a": 1, "b": {"c": 1, "c": 2}}')).toEqual({ code: 'XENT_DUPLICATE_FIELD', pointer: '/b/c' });
    expect(refusal('{"a": {"c": 1}, "b": {"c": 2}}')).toBeNull();
    expect(refusal('{"\\u0061": 1, "a": 2}')).toEqual({ code: 'XENT_DUPLICATE_FIELD', pointer: '/a' });
  });

  it('objects nested deeper than any request, and text that is not JSON named as such first', () => {
    expect(refusal(`${'{"a":'.repeat(50)}1${'}'.repeat(50)}`)?.code).toBe('XENT_BAD_REQUEST');
    expect(refusal(`{"a": 1, "a": 2`)?.code).toBe('XENT_INVALID_JSON');
    expect(refusal(`${'['.repeat(40)}x`)?.code).toBe('XENT_INVALID_JSON');
  });

  it('NaN and Infinity tokens: XENT_INVALID_JSON at the element', () => {
    expect(refusal('{"x": [0, 1, NaN]}')).toEqual({ code: 'XENT_INVALID_JSON', pointer: '/x/2' });
    expect(refusal('{"x": {"y": -Infinity}}')).toEqual({ code: 'XENT_INVALID_JSON', pointer: '/x/y' });
  });
});
