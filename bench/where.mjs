// Where a request's time goes, on a real server under load: CPU per request by thread (the event loop, the scoring
// threads, V8's and libuv's helpers) and autocannon's own, the event loop's garbage collections (--trace-gc), and a
// paced /healthz probe. The figures of bench/README.md "Where the time goes" come from it.
//
//   npm run build && node bench/where.mjs [--body=small|json|fp32|fp64] [--seconds=8] [--rounds=3]
//                                         [--connections=<n>] [--server=<path>] [--node-args="<options>"]
//                                         [--ready=/readyz] [KEY=value...]
//
// xent runs as `npm start` runs it (its node options) unless --node-args replaces them; KEY=value sets its environment
// (e.g. HTTP_PROCESSES=2, WORKERS=1). Linux only (/proc). Figures are per 2xx response; on a shared machine compare
// runs taken one after the other, not across hours.

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { makeLogits, oipBinaryBody, scoreJsonBody } from './payloads.mjs';
import { httpRequest } from './lib/http.mjs';
import { descendantsOf, freePort, xentNodeArgs } from './lib/servers.mjs';
import { percentile, sig } from './lib/stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    body: { type: 'string', default: 'json' },
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string' },
    server: { type: 'string', default: join(root, 'dist/server.js') },
    'node-args': { type: 'string' },
    ready: { type: 'string', default: '/readyz' },
  },
});

const SEED = 20240601;
function request(kind) {
  if (kind === 'small') {
    const d = makeLogits(32, 10, SEED + 32 * 100_003 + 10);
    return { method: 'POST', path: '/cost', headers: { 'content-type': 'application/json' }, body: scoreJsonBody(d) };
  }
  const d = makeLogits(8, 50257, SEED + 8 * 100_003 + 50257);
  if (kind === 'json') return { method: 'POST', path: '/cost', headers: { 'content-type': 'application/json' }, body: scoreJsonBody(d) };
  const { body, headers } = oipBinaryBody(d, kind.toUpperCase());
  return { method: 'POST', path: '/v2/models/cross_entropy/infer', headers, body };
}

/** CPU ticks (1/100 s) of each thread of each process, by "pid/tid name". */
function threadTicks(pids) {
  const out = new Map();
  for (const pid of pids) {
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(`${pid}/${tid} ${name}`, { pid, tid: Number(tid), ticks: Number(f[11]) + Number(f[12]) });
      } catch {
        // exited meanwhile
      }
    }
  }
  return out;
}

/** The event loop's GCs from --trace-gc lines: the isolate with the largest heap is the event loop's. */
function eventLoopGcs(text) {
  const rows = [...text.matchAll(/\[\d+:(0x[0-9a-f]+)(?::\d+)?\]\s+\d+ ms: (Scavenge|Mark-Compact(?: \(reduce\))?|Minor Mark-Sweep)[^,]*? -> ([\d.]+) \([\d.]+\) MB,(?: pooled: [\d.]+ MB,)? ([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in \d+ steps[^)]*?biggest step ([\d.]+) ms)?/g)];
  const by = new Map();
  for (const r of rows) (by.get(r[1]) ?? by.set(r[1], []).get(r[1])).push(r);
  let main = [];
  let largest = -1;
  for (const rs of by.values()) {
    const m = Math.max(...rs.map((r) => Number(r[3])));
    if (m > largest) [largest, main] = [m, rs];
  }
  const of = (kind) => main.filter((r) => (kind === 'minor' ? !r[2].startsWith('Mark-Compact') : r[2].startsWith('Mark-Compact')));
  const sum = (rs, i) => rs.reduce((a, r) => a + Number(r[i] ?? 0), 0);
  const max = (rs, i) => Math.max(0, ...rs.map((r) => Number(r[i] ?? 0)));
  const [minor, major] = [of('minor'), of('major')];
  return {
    scavenges: minor.length,
    scavengeMs: sig(sum(minor, 4)),
    longestScavengeMs: sig(max(minor, 4)),
    markCompacts: major.length,
    markCompactMs: sig(sum(major, 4) + sum(major, 5)),
    longestMarkingStepMs: sig(Math.max(max(major, 4), max(major, 6))),
  };
}

const kind = opts.body;
const req = request(kind);
const connections = Number(opts.connections ?? (kind === 'small' ? 16 : 10));
const env = Object.fromEntries(positionals.map((p) => p.split('=', 2)));
const nodeArgs = opts['node-args'] !== undefined ? opts['node-args'].split(/\s+/).filter(Boolean) : xentNodeArgs(root);
const port = await freePort();
let log = '';
const child = spawn(process.execPath, [...nodeArgs, '--trace-gc', resolve(opts.server)], {
  env: { ...process.env, LOG_LEVEL: 'warn', API_KEYS: '', RATE_LIMIT: '0', ...env, PORT: String(port), HOST: '127.0.0.1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
child.stdout.on('data', (c) => (log = (log + c.toString('latin1')).slice(-4_000_000)));
process.on('exit', () => child.kill('SIGKILL'));
for (let i = 0; ; i++) {
  try {
    if ((await httpRequest({ port, path: opts.ready, timeoutMs: 1000, agent: false })).status === 200) break;
  } catch {
    // not yet
  }
  if (i > 300) throw new Error(`xent not ready:\n${log.slice(-2000)}`);
  await sleep(100);
}
// Warm up, then let the processes (a primary's HTTP processes too) settle.
await autocannon({ url: `http://127.0.0.1:${port}`, connections, amount: kind === 'small' ? 5000 : 40, timeout: 30, sampleInt: 100, requests: [req] });
await sleep(500);
const pids = [child.pid, ...descendantsOf(child.pid)];
console.log(`${kind} body (${req.body.length.toLocaleString('en-US')} bytes), ${connections} connections; ${[...nodeArgs, opts.server].join(' ')} ${positionals.join(' ')}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

const selfTicks = () => threadTicks([process.pid]);
for (let round = 1; round <= Number(opts.rounds); round++) {
  const probe = new Worker(new URL('./lib/probe.mjs', import.meta.url), { workerData: { port, intervalMs: 20, probes: [{ name: 'healthz', method: 'GET', path: '/healthz' }] } });
  const [before, selfBefore, logFrom] = [threadTicks(pids), selfTicks(), log.length];
  const t0 = performance.now();
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections, duration: Number(opts.seconds), timeout: 30, sampleInt: 100, requests: [req] });
  const seconds = (performance.now() - t0) / 1000;
  const [after, selfAfter] = [threadTicks(pids), selfTicks()];
  const stopped = new Promise((r) => probe.once('message', r));
  probe.postMessage('stop');
  const latencies = (await stopped).healthz.latencies;
  await probe.terminate();
  const n = result['2xx'];
  const perRequest = (ticks) => sig((ticks * 10) / n, 3);
  // Threads: the event loop is the thread whose id is its process's pid; the scoring threads are named "node" too,
  // V8's and libuv's helpers by their names.
  const groups = new Map();
  for (const [key, t] of after) {
    const used = t.ticks - (before.get(key)?.ticks ?? 0);
    const name = key.split(' ').slice(1).join(' ');
    const group = t.tid === t.pid ? (t.pid === child.pid ? 'event loop' : `event loop ${t.pid}`) : name === 'node' ? 'other threads (scoring, V8 and libuv helpers)' : name;
    groups.set(group, (groups.get(group) ?? 0) + used);
  }
  const total = [...groups.values()].reduce((a, b) => a + b, 0);
  const own = [...selfAfter].reduce((a, [k, t]) => a + t.ticks - (selfBefore.get(k)?.ticks ?? 0), 0);
  const threads = [...groups].filter(([, t]) => t > 0).sort((a, b) => b[1] - a[1]).map(([g, t]) => `${g} ${perRequest(t)}`);
  console.log(
    `round ${round}: ${sig(n / seconds, 4)} req/s${result.non2xx ? ` (${result.non2xx} non-2xx!)` : ''}; CPU ms per request: server ${perRequest(total)} = ${threads.join(', ')}; ` +
      `autocannon ${perRequest(own)} (this process, the probe included); /healthz p50 ${sig(percentile(latencies, 0.5))} p99 ${sig(percentile(latencies, 0.99))} max ${sig(percentile(latencies, 1))} ms; ` +
      `event loop GC ${JSON.stringify(eventLoopGcs(log.slice(logFrom)))}; load average ${os.loadavg()[0].toFixed(2)}`,
  );
}
child.kill('SIGTERM');
