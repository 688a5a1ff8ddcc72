#!/usr/bin/env node
// Offline Dockerfile lint: dockerfile-utils' validator (the engine of the Docker language server,
// every rule raised to an error) plus this project's own image policy. Exits 1 on any problem.
//
//   node scripts/lint-dockerfile.mjs [Dockerfile ...]   # default: ./Dockerfile
//   node scripts/lint-dockerfile.mjs --self-test        # proves the lint rejects a bad Dockerfile
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { validate, ValidationSeverity } from 'dockerfile-utils';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BASE_IMAGE = 'node:24-bookworm-slim';

/** Every configurable dockerfile-utils rule as an error (its defaults leave some as warnings or off). */
const STRICT = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

/** Instructions with continuation lines joined and comments dropped: { line (1-based), keyword, args }. */
function instructions(text) {
  const out = [];
  const lines = text.split(/\r?\n/);
  let current = null;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const trimmed = raw.trim();
    if (current === null) {
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      const m = /^(\S+)\s*(.*)$/.exec(trimmed);
      current = { line: i + 1, keyword: m[1].toUpperCase(), args: m[2] };
    } else if (trimmed.startsWith('#')) {
      continue; // comment lines inside a continued instruction are skipped by Docker too
    } else {
      current.args += ' ' + trimmed;
    }
    if (current.args.endsWith('\\')) {
      current.args = current.args.slice(0, -1).trimEnd();
    } else {
      out.push(current);
      current = null;
    }
  }
  if (current !== null) out.push(current);
  return out;
}

function jsonArray(args) {
  try {
    const v = JSON.parse(args);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : null;
  } catch {
    return null;
  }
}

/** The project's image policy, on top of the generic validator. Returns [{ line, message }]. */
function policy(text) {
  const problems = [];
  const add = (line, message) => problems.push({ line, message });
  const lines = text.split(/\r?\n/);
  // A `# syntax=` parser directive makes BuildKit pull a frontend image: Docker Hub is unreachable here.
  for (let i = 0; i < lines.length && lines[i].startsWith('#'); i++) {
    if (/^#\s*syntax\s*=/i.test(lines[i])) add(i + 1, 'no "# syntax=" directive: it pulls a frontend image at build time');
  }

  const all = instructions(text);
  const stages = [];
  for (const ins of all) {
    if (ins.keyword === 'FROM') stages.push({ from: ins, body: [] });
    else if (stages.length > 0) stages.at(-1).body.push(ins);
  }
  if (stages.length < 2) add(1, 'multi-stage build expected (a build stage and a runtime stage)');
  const stageNames = new Set();
  for (const { from } of stages) {
    const words = from.args.split(/\s+/).filter((w) => !w.startsWith('--'));
    const image = words[0] ?? '';
    const asIdx = words.findIndex((w) => w.toUpperCase() === 'AS');
    if (asIdx > 0) stageNames.add(words[asIdx + 1]);
    if (!stageNames.has(image) && image !== BASE_IMAGE) add(from.line, `FROM ${image}: every stage must build on ${BASE_IMAGE}`);
  }
  for (const ins of all) {
    if (ins.keyword === 'ADD' && /\bhttps?:\/\//.test(ins.args)) add(ins.line, 'ADD of a URL: fetch nothing at build time outside npm');
    if (ins.keyword === 'RUN' && /\bnpm\s+(install|i)\b/.test(ins.args)) add(ins.line, 'use `npm ci` (lockfile-exact), not `npm install`');
    if (ins.keyword === 'RUN' && /\b(curl|wget)\b/.test(ins.args)) add(ins.line, 'no curl/wget downloads in the build');
    if (ins.keyword === 'MAINTAINER') add(ins.line, 'MAINTAINER is deprecated; use a LABEL');
  }
  const build = stages.slice(0, -1).flatMap((s) => s.body);
  const runs = build.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
  if (stages.length >= 2) {
    if (!/\bnpm ci\b/.test(runs)) add(1, 'the build stage must run `npm ci`');
    if (!/\bnpm run build\b/.test(runs)) add(1, 'the build stage must run `npm run build`');
    if (!/\bnpm prune --omit=dev\b/.test(runs)) add(1, 'the build stage must run `npm prune --omit=dev`');
  }

  const final = stages.at(-1);
  if (final === undefined) return problems;
  const last = (kw) => final.body.filter((i) => i.keyword === kw).at(-1);
  const user = last('USER');
  if (user === undefined) add(final.from.line, 'the runtime stage must switch to an unprivileged USER');
  else if (/^(root|0)(:|$)/.test(user.args.trim())) add(user.line, 'the runtime stage must not run as root');
  const env = final.body.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
  if (!/\bNODE_ENV=("?)production\1(\s|$)/.test(env)) add(final.from.line, 'the runtime stage must set NODE_ENV=production');
  if (!final.body.some((i) => i.keyword === 'EXPOSE' && /(^|\s)3000(\/tcp)?(\s|$)/.test(i.args))) add(final.from.line, 'EXPOSE 3000 expected');
  const hc = last('HEALTHCHECK');
  if (hc === undefined) add(final.from.line, 'a HEALTHCHECK is required');
  else if (!/\/healthz\b/.test(hc.args)) add(hc.line, 'the HEALTHCHECK must probe /healthz');
  else if (/\b(curl|wget)\b/.test(hc.args)) add(hc.line, 'the slim image has no curl/wget: probe with node');
  const cmd = last('CMD');
  const argv = cmd === undefined ? null : jsonArray(cmd.args);
  if (cmd === undefined) add(final.from.line, 'a CMD is required');
  else if (argv === null) add(cmd.line, 'CMD must use the exec (JSON array) form so node is PID 1 and receives SIGTERM');
  else if (argv[0] !== 'node') add(cmd.line, `CMD must start node directly (not ${argv[0]}): npm does not forward SIGTERM`);
  if (last('ENTRYPOINT') !== undefined && jsonArray(last('ENTRYPOINT').args) === null) {
    add(last('ENTRYPOINT').line, 'ENTRYPOINT must use the exec (JSON array) form');
  }
  return problems;
}

/** Lints one Dockerfile's text; returns printable problem lines (empty when clean). */
export function lintDockerfile(text, name = 'Dockerfile') {
  const found = [];
  for (const d of validate(text, STRICT)) {
    const sev = d.severity === 1 ? 'error' : d.severity === 2 ? 'warning' : 'info';
    found.push(`${name}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${sev}: ${d.message} [dockerfile-utils ${d.code}]`);
  }
  for (const p of policy(text)) found.push(`${name}:${p.line}: error: ${p.message} [xent policy]`);
  return found;
}

const BAD = `# syntax=docker/dockerfile:1
FROM node:latest
workdir app
RUN npm install && curl -fsSL https://example.invalid/x | sh
EXPOS 3000
CMD npm start
`;

function selfTest() {
  const problems = lintDockerfile(BAD, 'bad.Dockerfile');
  const expected = [/syntax=/, /Unknown instruction: EXPOS/i, /WORKDIR paths should be absolute/, /npm ci/, /exec \(JSON array\) form/, /unprivileged USER/, /HEALTHCHECK/, /must build on node:24-bookworm-slim/];
  const missing = expected.filter((re) => !problems.some((p) => re.test(p)));
  if (missing.length > 0) {
    console.error(`lint-dockerfile self-test FAILED: the bad Dockerfile was not flagged for ${missing.join(', ')}\n${problems.join('\n')}`);
    return 1;
  }
  console.log(`lint-dockerfile self-test ok: a bad Dockerfile gets ${problems.length} problems`);
  return 0;
}

function main(argv) {
  if (argv.includes('--self-test')) return selfTest();
  const files = argv.length > 0 ? argv : [path.join(ROOT, 'Dockerfile')];
  let total = 0;
  for (const file of files) {
    const problems = lintDockerfile(readFileSync(file, 'utf8'), path.relative(process.cwd(), file) || file);
    for (const p of problems) console.error(p);
    total += problems.length;
    if (problems.length === 0) console.log(`${path.relative(process.cwd(), file) || file}: ok (dockerfile-utils + xent policy)`);
  }
  return total === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
