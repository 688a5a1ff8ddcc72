import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Worker threads and spawned servers run the compiled build (dist/), not the TypeScript the tests import: build it
 * before every test run when the sources changed (scripts/build-if-stale.mjs, as `npm start` does; instant when
 * nothing did), so that no test ever runs a stale worker, whether the suite was started by `npm test` or by
 * `npx vitest run <file>`.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/build-if-stale.mjs', import.meta.url))], { cwd: root, stdio: 'inherit' });
}
