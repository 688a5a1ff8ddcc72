// Compiles src/ to dist/ only when the sources changed since the last build: `npm start` (prestart) and the test
// suite's global setup run it, so a start with nothing changed begins at once instead of waiting for tsc. "Changed"
// is a SHA-256 over every file under src/, the two tsconfig files and the TypeScript version, kept in
// dist/.source-hash after each successful build (content, not modification times, which git checkouts rewrite).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist', '.source-hash');

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort();
}

/** The hash of everything the build reads. */
function sourceHash() {
  const hash = createHash('sha256');
  const inputs = [...filesUnder(join(root, 'src')), join(root, 'tsconfig.json'), join(root, 'tsconfig.build.json'), join(root, 'node_modules', 'typescript', 'package.json')];
  for (const file of inputs) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

const current = sourceHash();
const built = existsSync(stamp) && existsSync(join(root, 'dist', 'server.js')) ? readFileSync(stamp, 'utf8').trim() : null;
if (built === current) {
  process.stdout.write('build: dist/ is up to date\n');
} else {
  process.stdout.write(`build: ${built === null ? 'no build yet' : 'sources changed'}, compiling src/ to dist/ (tsc)\n`);
  try {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  } catch (err) {
    // tsc has printed the errors; no stamp, so the next run compiles again.
    process.exit(typeof err.status === 'number' ? err.status : 1);
  }
  writeFileSync(stamp, `${current}\n`);
}
