// The servers under test as child processes on loopback, and their memory as /proc reports it.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import process from 'node:process';
import { setTimeout, clearTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpRequest } from './http.mjs';

/**
 * The node options xent is started with in production: those of `npm start` (package.json), which the Dockerfile's
 * CMD repeats (a test checks that they agree), so the bench measures the server as it runs.
 */
export function xentNodeArgs(root) {
  const start = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')).scripts.start.split(/\s+/);
  return start.slice(1, start.indexOf('dist/server.js'));
}

/** A port the kernel says is free right now on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const started = new Set();
process.once('exit', () => {
  for (const child of started) signal(child, 'SIGKILL');
});

/** Signals a server: its own process group when it has one (a server that forks workers), else the process. */
function signal(child, sig) {
  try {
    if (child.ownGroup) process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    // already gone
  }
}

/** The pids of every live descendant of `pid`, from /proc/<n>/stat (parent pid is the 2nd field after the name). */
export function descendantsOf(pid) {
  const parent = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out = [];
  const walk = (p) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

/**
 * Starts a server with PORT/HOST set and waits until `readyPath` answers 200 (and `readyCheck(res)`, when given, is
 * true). By default `node [nodeArgs] <script>`; `command` + `args` (+ `cwd`) start anything else, in its own process group so
 * that stop() reaches the workers it forks. Returns a handle with the pid, `pids` (the process and, once ready, its
 * descendants: what CPU and memory are summed over), the port, the tail of its output (for error reports) and stop().
 */
export async function startServer({ name, script, nodeArgs = [], command, args = [], cwd, env = {}, readyPath = '/healthz', readyCheck, timeoutMs = 30_000 }) {
  const port = await freePort();
  const portEnv = { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' };
  const child =
    command === undefined
      ? spawn(process.execPath, [...nodeArgs, script], { env: portEnv, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(command, args.map((a) => a.replaceAll('{port}', String(port))), { cwd, env: portEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.ownGroup = command !== undefined;
  started.add(child);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.once('exit', (code, sig) => {
    exited = { code, signal: sig };
    started.delete(child);
  });

  const handle = {
    name,
    port,
    pid: child.pid,
    pids: [child.pid],
    output: () => output,
    alive: () => exited === null,
    async stop() {
      if (exited !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      signal(child, 'SIGTERM');
      const timer = setTimeout(() => signal(child, 'SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
      // A process group outlives its leader when a worker ignores SIGTERM: make sure it is gone too.
      if (child.ownGroup) signal(child, 'SIGKILL');
    },
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`${name} exited (${JSON.stringify(exited)}) before it was ready:\n${output}`);
    try {
      // A new connection each time (agent: false), so that a server with several worker processes is asked each in turn.
      const res = await httpRequest({ port, path: readyPath, timeoutMs: 1000, agent: false });
      if (res.status === 200 && (readyCheck === undefined || readyCheck(res))) {
        handle.pids = [child.pid, ...descendantsOf(child.pid)];
        return handle;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`${name} not ready on ${readyPath} after ${timeoutMs} ms:\n${output}`);
    }
    await sleep(100);
  }
}

/**
 * VmRSS and VmHWM (peak RSS since start or since resetPeak) of a process, in MiB; nulls when unreadable. Given several
 * pids (a server and its worker processes), the sums: for VmHWM an upper bound, as the peaks need not coincide.
 */
export function memoryOf(pids) {
  let rssMiB = 0;
  let hwmMiB = 0;
  for (const pid of [pids].flat()) {
    let status;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return { rssMiB: null, hwmMiB: null };
    }
    const kib = (field) => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) / 1024 : null;
    };
    rssMiB = rssMiB === null || kib('VmRSS') === null ? null : rssMiB + kib('VmRSS');
    hwmMiB = hwmMiB === null || kib('VmHWM') === null ? null : hwmMiB + kib('VmHWM');
  }
  return { rssMiB, hwmMiB };
}

/** Resets VmHWM to the current RSS (Linux clear_refs "5") of each pid; false when not permitted or not Linux. */
export function resetPeak(pids) {
  try {
    for (const pid of [pids].flat()) writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * For a server with worker processes sharing one listening socket (uvicorn --workers): how many established loopback
 * connections on `port` each worker holds, leaving out those from `exceptClientPorts`, from /proc/net/tcp and the
 * workers' file descriptors. Workers are the processes other than `leader` that hold the listening socket. Sorted,
 * largest first; null when /proc cannot tell.
 */
export function connectionsPerWorker(port, leader, pids, exceptClientPorts = new Set()) {
  try {
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    const established = new Set();
    const listening = new Set();
    for (const row of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f.length < 10 || !f[1].endsWith(`:${hexPort}`)) continue;
      if (f[3] === '01' && !exceptClientPorts.has(parseInt(f[2].split(':')[1], 16))) established.add(f[9]);
      else if (f[3] === '0A') listening.add(f[9]);
    }
    const out = [];
    for (const pid of pids) {
      if (pid === leader) continue;
      let mine = 0;
      let listener = false;
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        let link;
        try {
          link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
        if (inode === undefined) continue;
        if (established.has(inode)) mine++;
        if (listening.has(inode)) listener = true;
      }
      if (listener) out.push(mine);
    }
    return out.length > 0 ? out.sort((a, b) => b - a) : null;
  } catch {
    return null;
  }
}
