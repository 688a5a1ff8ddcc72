import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layers' import rules (eslint.config.js, README "Architecture") are lint errors: each case lints a one-line
 * module placed in a folder and expects the rule to fire, or not.
 */
const eslint = new ESLint({ cwd: fileURLToPath(new URL('..', import.meta.url)) });

async function restricted(file: string, specifier: string): Promise<boolean> {
  const [result] = await eslint.lintText(`import '${specifier}';\n`, { filePath: file });
  return result!.messages.some((m) => m.ruleId === 'no-restricted-imports');
}

const CASES: [file: string, specifier: string, allowed: boolean][] = [
  ['src/kernel/x.ts', './float64.js', true],
  ['src/kernel/x.ts', '../codec/problems.js', false],
  ['src/kernel/x.ts', '../http/docs.js', false],
  ['src/kernel/x.ts', 'node:fs', false],
  ['src/kernel/x.ts', 'zod', false],
  ['src/codec/x.ts', '../kernel/evaluate.js', true],
  ['src/codec/oip/x.ts', '../../kernel/evaluate.js', true],
  ['src/codec/x.ts', 'zod', true],
  ['src/codec/x.ts', '../pool/dispatch.js', false],
  ['src/codec/x.ts', '../http/docs.js', false],
  ['src/codec/json/x.ts', '../../http/schemas/score.js', false],
  ['src/codec/x.ts', '../config.js', false],
  ['src/codec/x.ts', 'fastify', false],
  ['src/codec/x.ts', 'piscina', false],
  ['src/pool/x.ts', '../codec/body.js', true],
  ['src/pool/x.ts', 'piscina', true],
  ['src/pool/x.ts', 'node:worker_threads', true],
  ['src/pool/x.ts', '../http/metrics.js', false],
  ['src/pool/x.ts', '../config.js', false],
  ['src/pool/x.ts', 'fastify', false],
  ['src/http/x.ts', '../pool/dispatch.js', true],
  ['src/http/x.ts', '../app.js', false],
  ['src/cli/x.ts', '../codec/body.js', true],
  ['src/cli/x.ts', '../kernel/evaluate.js', true],
  ['src/cli/x.ts', './lines.js', true],
  ['src/cli/x.ts', 'commander', true],
  ['src/cli/x.ts', 'cli-progress', true],
  ['src/cli/x.ts', 'node:http', true],
  ['src/cli/x.ts', '../pool/dispatch.js', false],
  ['src/cli/x.ts', '../http/metrics.js', false],
  ['src/cli/x.ts', '../config.js', false],
  ['src/cli/x.ts', '../app.js', false],
  ['src/cli/x.ts', 'fastify', false],
  ['src/cli/x.ts', 'piscina', false],
  ['src/config.ts', '../src/http/docs.js', false],
  ['src/config.ts', './http/docs.js', false],
  ['src/client/x.ts', './tensors.js', true],
  ['src/client/x.ts', '../codec/oip/model.js', true],
  ['src/client/x.ts', '../codec/body.js', false],
  ['src/client/x.ts', '../http/docs.js', false],
  ['src/client/x.ts', '../pool/dispatch.js', false],
  ['src/client/x.ts', '../config.js', false],
  ['src/client/x.ts', 'fastify', false],
  ['src/client/x.ts', 'node:http', false],
];

describe('import rules per layer', () => {
  it.each(CASES)('%s importing %s - allowed: %s', async (file, specifier, allowed) => {
    expect(await restricted(file, specifier)).toBe(!allowed);
  });
});
