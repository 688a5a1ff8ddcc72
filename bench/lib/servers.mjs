// The servers under test as child processes on loopback, and their memory as /proc reports it.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import process from 'node:process';
import { setTimeout, clearTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpRequest } from './http.mjs';

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
  for (const child of started) child.kill('SIGKILL');
});

/**
 * Starts `node <script>` with PORT/HOST set and waits until `readyPath` answers 200. Returns a handle with the pid,
 * the port, the tail of its output (for error reports) and stop().
 */
export async function startServer({ name, script, env = {}, readyPath = '/healthz', timeoutMs = 30_000 }) {
  const port = await freePort();
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
    started.delete(child);
  });

  const handle = {
    name,
    port,
    pid: child.pid,
    output: () => output,
    alive: () => exited === null,
    async stop() {
      if (exited !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`${name} exited (${JSON.stringify(exited)}) before it was ready:\n${output}`);
    try {
      const res = await httpRequest({ port, path: readyPath, timeoutMs: 1000 });
      if (res.status === 200) return handle;
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

/** VmRSS and VmHWM (peak RSS since start or since resetPeak) of a process, in MiB; nulls when unreadable. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field) => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) / 1024 : null;
    };
    return { rssMiB: kib('VmRSS'), hwmMiB: kib('VmHWM') };
  } catch {
    return { rssMiB: null, hwmMiB: null };
  }
}

/** Resets VmHWM to the current RSS (Linux clear_refs "5"); false when not permitted or not Linux. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
