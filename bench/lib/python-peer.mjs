// Finds (and, when it can, installs) the Python the bench's Python peer runs on: python3 with FastAPI, uvicorn and
// numpy, from Debian's packages. Never fails the bench: when the peer cannot run, it says why and is left out.
//
// Debian's packages go to /usr/lib/python3/dist-packages, which only Debian's own /usr/bin/python3 sees (a pyenv or
// venv python3 first on PATH does not), so /usr/bin/python3 is tried first. XENT_PEER_PYTHON=<path> picks another.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import process from 'node:process';

/** The Debian packages: the service's own, and uvloop + httptools, what `pip install "uvicorn[standard]"` adds. */
export const DEBIAN_PACKAGES = ['python3-fastapi', 'python3-uvicorn', 'python3-numpy', 'python3-uvloop', 'python3-httptools'];

// Prints the versions as JSON, or fails on the first missing module. uvloop and httptools are optional: without them
// uvicorn falls back to asyncio and h11, slower, and the results say so.
const PROBE = `
import json, sys, importlib
out = {"python": sys.version.split()[0], "executable": sys.executable}
for name in ("fastapi", "starlette", "uvicorn", "numpy"):
    out[name] = importlib.import_module(name).__version__
for name in ("uvloop", "httptools"):
    try:
        out[name] = importlib.import_module(name).__version__
    except Exception:
        out[name] = None
print(json.dumps(out))
`;

function probe(python) {
  const run = spawnSync(python, ['-c', PROBE], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  if (run.status !== 0) return { ok: false, why: (run.error?.message ?? run.stderr.trim().split('\n').at(-1)) || `exit ${run.status}` };
  try {
    return { ok: true, versions: JSON.parse(run.stdout) };
  } catch {
    return { ok: false, why: `unexpected output: ${run.stdout.slice(0, 200)}` };
  }
}

function candidates() {
  if (process.env.XENT_PEER_PYTHON) return [process.env.XENT_PEER_PYTHON];
  return ['/usr/bin/python3', 'python3'];
}

function aptInstall(log) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', ...DEBIAN_PACKAGES], { encoding: 'utf8', timeout: 600_000, env });
  log(`  installing the Python peer's packages: apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`);
  let run = install();
  if (run.status !== 0) {
    // Usually stale package lists (a container's are often empty): refresh them once and try again.
    log('  apt-get install failed; apt-get update, then once more');
    spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8', timeout: 300_000, env });
    run = install();
  }
  if (run.status !== 0) return `apt-get install failed (${run.error?.message ?? `exit ${run.status}`}): ${(run.stderr || run.stdout).trim().split('\n').slice(-3).join(' / ')}`;
  return null;
}

/**
 * { python, versions } for a python3 that has the peer's modules, installing Debian's packages when none has them
 * and `install` is true; or { skipped: why } (with the command that would fix it).
 */
export function findPythonPeer({ install = true, log = console.log } = {}) {
  const tried = [];
  for (const python of candidates()) {
    const p = probe(python);
    if (p.ok) return { python, versions: p.versions };
    tried.push(`${python}: ${p.why}`);
  }
  const fix = `apt-get install -y ${DEBIAN_PACKAGES.join(' ')}`;
  if (process.env.XENT_PEER_PYTHON) return { skipped: `XENT_PEER_PYTHON=${process.env.XENT_PEER_PYTHON} cannot run it (${tried.join('; ')})` };
  if (!install) return { skipped: `no python3 with fastapi, uvicorn and numpy (${tried.join('; ')}); \`${fix}\` as root installs them` };
  if (!existsSync('/usr/bin/apt-get')) return { skipped: `no python3 with fastapi, uvicorn and numpy, and no apt-get to install them (${tried.join('; ')})` };
  if (process.getuid?.() !== 0) return { skipped: `no python3 with fastapi, uvicorn and numpy, and not root to install them: run \`sudo ${fix}\`` };
  const failed = aptInstall(log);
  if (failed !== null) return { skipped: failed };
  const p = probe('/usr/bin/python3');
  if (p.ok) return { python: '/usr/bin/python3', versions: p.versions };
  return { skipped: `installed ${DEBIAN_PACKAGES.join(' ')}, but /usr/bin/python3 still cannot import them: ${p.why}` };
}
