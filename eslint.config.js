import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** An import rule per layer (README "Architecture"): data flows one way, so imports point one way only. */
const layer = (files, message, regexes) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: regexes.map((regex) => ({ regex, message })) }],
  },
});
const FRAMEWORK = '^(fastify|@fastify/.*|pino|prom-client|piscina|close-with-grace)$';
const HTTP_AND_ABOVE = '(^|/)(http)(/|$)|(^|/)(app|server|config)\\.js$';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: globals.node,
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  // The kernel is pure numerics over typed arrays: it imports its own modules and nothing else.
  layer(['src/kernel/**/*.ts'], 'the kernel imports only its own modules (./...)', ['^(?!\\./)']),
  // The codec turns bytes into tasks and evaluations into bytes: the kernel and zod, never a framework, the pool,
  // HTTP or the configuration.
  layer(['src/codec/**/*.ts'], 'the codec imports the kernel, its own modules and zod only', [
    FRAMEWORK,
    '^node:',
    '(^|/)(pool)(/|$)',
    HTTP_AND_ABOVE,
  ]),
  // The pool runs the codec in worker threads: kernel, codec, piscina and Node, never HTTP or the configuration.
  layer(['src/pool/**/*.ts'], 'the pool imports the kernel, the codec, piscina and node: only', [
    '^(fastify|@fastify/.*|pino|prom-client|close-with-grace)$',
    HTTP_AND_ABOVE,
  ]),
  // HTTP adapts everything below it; only app.ts and server.ts are above it.
  layer(['src/http/**/*.ts'], 'nothing imports app.ts or server.ts', ['(^|/)(app|server)\\.js$']),
  // The command line scores files with the codec and the kernel, or streams them to a service over HTTP as any client
  // does: never the server's framework, pool, routes or configuration.
  layer(['src/cli/**/*.ts'], 'the CLI imports the kernel, the codec, its own modules, its libraries and node: only', [
    FRAMEWORK,
    '(^|/)(pool|http)(/|$)',
    '(^|/)(app|server|config)\\.js$',
  ]),
  layer(['src/config.ts'], 'the configuration imports zod and node: only', ['(^|/)(http|pool|codec|kernel)(/|$)|(^|/)(app|server)\\.js$']),
  // The client (xent/client) ships to Node and browsers alike: its own modules and the protocol's model constants only.
  layer(['src/client/**/*.ts'], 'the client imports its own modules and codec/oip/model.js only', ['^(?!\\./|\\.\\./codec/oip/model\\.js$)']),
);
