// The HTTP benchmark: xent (`node dist/server.js`) against two baseline servers and a lean Python peer (FastAPI +
// numpy, two uvicorn workers), all as child processes on loopback, driven by autocannon from this process. See
// bench/README.md for what each scenario and baseline is.
//
//   npm run bench          full run (~13 min): every scenario, baselines interleaved A B A B, 60 s leak check,
//                          then bench/kernel.mjs if present; writes bench/results/latest.{json,svg} and the README table
//   npm run bench:quick    smoke run (< 1 min with the build): short runs, baselines only where a target needs them,
//                          6 s leak check; writes bench/results/tmp/quick.{json,svg} and leaves the README alone
//
// Options (after `--`): --only=<id,id> run some scenarios; --no-leak; --no-kernel; --no-cluster leaves out xent with
// HTTP_PROCESSES=2 (xent-2p, run in the target scenarios); --duration=<s> per measured run;
// --server=<path> measure another build of xent (results then go to results/tmp/, like --only); --no-python leaves
// the Python peer out; --no-install does not apt-get its packages when they are missing (it is then skipped);
// --python-shared-socket runs it as plain `uvicorn --workers 2` (see bench/peers/python/serve.py for why not by default).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative, resolve } from 'node:path';
import process from 'node:process';
import { performance } from 'node:perf_hooks';
import { setInterval, clearInterval, setTimeout, clearTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { makeLogits, oipBinaryBody, referenceCost, scoreJsonBody } from './payloads.mjs';
import { httpRequest } from './lib/http.mjs';
import { findPythonPeer } from './lib/python-peer.mjs';
import { connectionsPerWorker, memoryOf, resetPeak, startServer, xentNodeArgs } from './lib/servers.mjs';
import { median, percentile, sig } from './lib/stats.mjs';
import { renderTable, writeReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-leak': { type: 'boolean', default: false },
    'no-kernel': { type: 'boolean', default: false },
    duration: { type: 'string' },
    server: { type: 'string' },
    'no-python': { type: 'boolean', default: false },
    'no-install': { type: 'boolean', default: false },
    'python-shared-socket': { type: 'boolean', default: false },
    'no-cluster': { type: 'boolean', default: false },
  },
});
const quick = opts.quick;

// ---------------------------------------------------------------------------------------------------------------
// What is measured

/** Run lengths. Quick keeps the A B A B interleaving only where a target needs a baseline. */
const PLAN = quick
  ? { duration: 2, rounds: 2, otherDuration: 1, otherRounds: 1, leakSeconds: 5, leakEarly: 2, idleProbeSeconds: 1 }
  : { duration: 8, rounds: 3, otherDuration: 6, otherRounds: 2, leakSeconds: 60, leakEarly: 10, idleProbeSeconds: 5 };
if (opts.duration !== undefined) PLAN.duration = PLAN.otherDuration = Number(opts.duration);

const PROBE_INTERVAL_MS = 20;
const SEED = 20240601;

const SIZES = {
  small: { n: 32, c: 10, connections: 16, warmup: quick ? 500 : 5000 },
  medium: { n: 32, c: 1000, connections: 16, warmup: quick ? 100 : 500 },
  large: { n: 8, c: 50257, connections: 10, warmup: quick ? 10 : 40 },
  huge: { n: 64, c: 32000, connections: 10, warmup: quick ? 10 : 20 },
  mixed: { connections: 10, warmup: quick ? 20 : 40 },
};

const TARGETS = {
  xent: {
    // --server=<path>: another build of xent (say, the previous commit's) to compare against these figures.
    script: resolve(opts.server ?? join(root, 'dist/server.js')),
    // As `npm start` and the Dockerfile run it.
    nodeArgs: xentNodeArgs(root),
    readyPath: '/readyz',
    // Explicit so that a developer's shell (API keys, a rate limit) cannot change what is measured.
    env: { LOG_LEVEL: 'warn', API_KEYS: '', RATE_LIMIT: '0' },
    describe: 'xent: node dist/server.js (defaults: small JSON parsed and scored on the event loop, large bodies as raw bytes to a pool worker)',
  },
  // The same build with two HTTP processes (node:cluster) on the port, one scoring thread each (WORKERS = 2 split):
  // what a user who must spread small requests over the cores of one machine runs (README "Several HTTP processes").
  'xent-2p': {
    script: resolve(opts.server ?? join(root, 'dist/server.js')),
    nodeArgs: xentNodeArgs(root),
    readyPath: '/readyz',
    env: { LOG_LEVEL: 'warn', API_KEYS: '', RATE_LIMIT: '0', HTTP_PROCESSES: '2' },
    describe: 'xent-2p: the same build with HTTP_PROCESSES=2 (two HTTP processes on the port, each with one scoring thread)',
  },
  constant: {
    script: join(here, 'baselines/constant.mjs'),
    readyPath: '/healthz',
    env: {},
    describe: "constant: Fastify route, Fastify's default JSON.parse of the same body, answers a constant (floor for small bodies)",
  },
  naive: {
    script: join(here, 'baselines/naive.mjs'),
    readyPath: '/healthz',
    env: {},
    describe: 'naive: Fastify route, JSON.parse on the event loop, cross-entropy inline with a plain loop (reference for large bodies)',
  },
  python: {
    // `command` (the python3 that has FastAPI, uvicorn and numpy) is filled in by main() once findPythonPeer() has run.
    // serve.py: two uvicorn workers, each on its own SO_REUSEPORT socket, so that autocannon's connections are spread
    // over both; --python-shared-socket: `uvicorn --workers 2`, where one worker usually takes them all.
    args: opts['python-shared-socket']
      ? ['-m', 'uvicorn', 'app:app', '--host', '127.0.0.1', '--port', '{port}', '--workers', '2', '--no-access-log', '--log-level', 'warning']
      : ['serve.py', '--host', '127.0.0.1', '--port', '{port}', '--workers', '2'],
    cwd: join(here, 'peers/python'),
    env: { PYTHONDONTWRITEBYTECODE: '1' },
    readyPath: '/healthz',
    // Ready when both uvicorn workers answer (each /healthz carries its pid): a run must not start on one.
    readyCheck: (() => {
      const seen = new Set();
      return (res) => seen.add(JSON.parse(res.body).pid).size >= 2;
    })(),
    describe: `python: lean FastAPI app, stdlib json + numpy float64, vectorised log-sum-exp, two uvicorn workers (${opts['python-shared-socket'] ? 'uvicorn --workers 2, one shared socket' : 'serve.py, a SO_REUSEPORT socket each'}) (the peer; ratios to it)`,
  },
};

const ALL = ['xent', 'xent-2p', 'constant', 'naive', 'python'];
/** Whether `target` is xent itself, in either configuration. */
const isXent = (target) => target === 'xent' || target === 'xent-2p';
// `quick: true`: part of the quick run (the /loss twins and the duplicate sizes are left to the full run). xent-2p
// runs where a target needs it (`cluster: true`).
const SCENARIOS = [
  { id: '32x10-cost', label: '32×10 /cost', size: 'small', path: '/cost', target: 'floor', quick: true, cluster: true },
  { id: '32x10-loss', label: '32×10 /loss', size: 'small', path: '/loss' },
  { id: '32x1000-cost', label: '32×1000 /cost', size: 'medium', path: '/cost' },
  { id: '32x1000-loss', label: '32×1000 /loss', size: 'medium', path: '/loss' },
  { id: '8x50257-cost', label: '8×50257 /cost', size: 'large', path: '/cost', target: 'naive', quick: true, cluster: true },
  { id: '8x50257-loss', label: '8×50257 /loss', size: 'large', path: '/loss' },
  { id: '64x32000-cost', label: '64×32000 /cost', size: 'huge', path: '/cost' },
  { id: '64x32000-loss', label: '64×32000 /loss', size: 'huge', path: '/loss' },
  { id: 'mixed-cost', label: 'mixed 32×10 + 8×50257 /cost', size: 'mixed', path: '/cost', quick: true },
  { id: 'oip-8x50257', label: '8×50257 OIP binary FP64', size: 'large', path: '/v2/models/cross_entropy/infer', oip: 'FP64' },
  {
    id: 'oip-8x50257-fp32',
    label: '8×50257 OIP binary FP32',
    size: 'large',
    path: '/v2/models/cross_entropy/infer',
    oip: 'FP32',
    target: 'binary',
    quick: true,
    cluster: true,
    // Its target is a ratio to the JSON body of the same batch: measured on the same servers in alternate rounds of
    // this scenario, so that both see the machine as it is at the time (not 6 minutes earlier).
    versus: '8x50257-cost',
  },
].map((s) => {
  const servers = s.oip ? ['xent'] : !quick ? ALL.filter((t) => t !== 'xent-2p') : s.target === 'floor' ? ['xent', 'constant', 'python'] : s.target === 'naive' ? ['xent', 'naive', 'python'] : ['xent'];
  const targets = s.cluster && !opts['no-cluster'] ? [servers[0], 'xent-2p', ...servers.slice(1)] : servers;
  return { ...s, targets, rounds: s.target ? PLAN.rounds : PLAN.otherRounds, duration: s.target ? PLAN.duration : PLAN.otherDuration };
});

const only = opts.only?.split(',').map((s) => s.trim());
const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.id)) : quick ? SCENARIOS.filter((s) => s.quick) : SCENARIOS;
if (only && scenarios.length !== only.length) {
  throw new Error(`unknown scenario in --only; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Payloads

const payloadCache = new Map();
function payload(size) {
  if (!payloadCache.has(size)) {
    const { n, c } = SIZES[size];
    const data = makeLogits(n, c, SEED + n * 100_003 + c);
    payloadCache.set(size, { ...data, json: scoreJsonBody(data), reference: referenceCost(data) });
  }
  return payloadCache.get(size);
}

const JSON_HEADERS = { 'content-type': 'application/json' };

const requestCache = new Map();
function requestsFor(scenario) {
  if (!requestCache.has(scenario.id)) requestCache.set(scenario.id, buildRequests(scenario));
  return requestCache.get(scenario.id);
}

/** The request(s) autocannon cycles through for a scenario, and what a correct answer is. */
function buildRequests(scenario) {
  if (scenario.size === 'mixed') {
    const small = payload('small');
    const large = payload('large');
    return {
      parts: [
        { method: 'POST', path: scenario.path, headers: JSON_HEADERS, body: small.json, expect: small },
        { method: 'POST', path: scenario.path, headers: JSON_HEADERS, body: large.json, expect: large },
      ],
      numbersPerRequest: (small.n * small.c + large.n * large.c) / 2,
      bytesPerRequest: (small.json.length + large.json.length) / 2,
    };
  }
  const p = payload(scenario.size);
  if (scenario.oip) {
    const { body, headers, sent } = oipBinaryBody(p, scenario.oip);
    const expect = scenario.oip === 'FP64' ? p : { ...sent, reference: referenceCost(sent) };
    return { parts: [{ method: 'POST', path: scenario.path, headers, body, expect, oip: true }], numbersPerRequest: p.n * p.c, bytesPerRequest: body.length };
  }
  return {
    parts: [{ method: 'POST', path: scenario.path, headers: JSON_HEADERS, body: p.json, expect: p }],
    numbersPerRequest: p.n * p.c,
    bytesPerRequest: p.json.length,
  };
}

/** Checks one response: 200, a numeric cost; for servers that compute, the right cost (and N losses on /loss). */
function checkResponse(target, part, status, text) {
  if (status !== 200) return `HTTP ${status}: ${String(text).slice(0, 300)}`;
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    return `not JSON: ${String(text).slice(0, 120)}`;
  }
  const cost = part.oip ? doc.outputs?.find((o) => o.name === 'cost')?.data?.[0] : doc.cost;
  if (typeof cost !== 'number' || !Number.isFinite(cost)) return `no numeric cost in ${String(text).slice(0, 200)}`;
  if (target === 'constant') return null;
  const rel = Math.abs(cost - part.expect.reference) / Math.abs(part.expect.reference);
  if (!(rel <= 1e-12)) return `cost ${cost} differs from the reference ${part.expect.reference} (relative ${rel.toExponential(2)})`;
  if (part.path === '/loss' && (!Array.isArray(doc.losses) || doc.losses.length !== part.expect.n)) return `expected ${part.expect.n} losses`;
  return null;
}

/**
 * The Python peer answers every field xent does: checked once per request against xent's own answer (1e-12 relative
 * for the figures, equal for the rest), so that the peer is measured doing the same work.
 */
function compareWithXent(text, xentText) {
  const peer = JSON.parse(text);
  const xent = JSON.parse(xentText);
  const problems = [];
  for (const [key, want] of Object.entries(xent)) {
    const got = peer[key];
    if (key === 'losses') {
      const worst = Math.max(...want.map((w, i) => Math.abs(got?.[i] - w) / Math.max(Math.abs(w), Number.MIN_VALUE)));
      if (!(got?.length === want.length && worst <= 1e-12)) problems.push(`losses differ from xent's (worst relative ${worst.toExponential(2)})`);
    } else if (typeof want === 'number') {
      const rel = want === got ? 0 : Math.abs(got - want) / Math.abs(want);
      if (!(rel <= 1e-12)) problems.push(`${key} ${got} differs from xent's ${want}`);
    } else if (got !== want) problems.push(`${key} ${JSON.stringify(got)} differs from xent's ${JSON.stringify(want)}`);
  }
  return problems.length === 0 ? null : problems.join('; ');
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring

/** CPU ticks (user + system) the processes have used; from /proc/<pid>/stat. */
function cpuTicks(pids) {
  try {
    let ticks = 0;
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks;
  } catch {
    return null;
  }
}

/**
 * Waits until the server has gone quiet (under 10 % of a core over 200 ms), so that work left over from the previous
 * run (requests autocannon abandoned when its time was up) is not charged to the next one. Returns the ms waited.
 */
async function waitIdle(server, capMs = 15_000) {
  const start = performance.now();
  for (;;) {
    const before = cpuTicks(server.pids);
    await sleep(200);
    const after = cpuTicks(server.pids);
    if (before === null || after === null || after - before <= 2 || performance.now() - start > capMs) return Math.round(performance.now() - start);
  }
}

function startProbe(server, scenario) {
  const probes = [{ name: 'healthz', method: 'GET', path: '/healthz' }];
  if (scenario.size === 'mixed') {
    probes.push({ name: 'small', method: 'POST', path: '/cost', headers: JSON_HEADERS, body: new Uint8Array(payload('small').json) });
  }
  const worker = new Worker(new URL('./lib/probe.mjs', import.meta.url), {
    workerData: { port: server.port, intervalMs: PROBE_INTERVAL_MS, probes },
  });
  return {
    /** The local ports of the probe's sockets. */
    ports() {
      return new Promise((resolve) => {
        const take = (m) => {
          if (m?.ports === undefined) return;
          worker.off('message', take);
          resolve(m.ports);
        };
        worker.on('message', take);
        worker.postMessage('ports');
      });
    },
    async stop() {
      const result = new Promise((resolve, reject) => {
        const take = (m) => {
          if (m?.ports !== undefined) return;
          worker.off('message', take);
          resolve(m);
        };
        worker.on('message', take);
        worker.once('error', reject);
      });
      worker.postMessage('stop');
      const out = await result;
      await worker.terminate();
      return out;
    },
  };
}

/** Samples the server's RSS (summed over its processes) every `everyMs`; stop() returns [seconds since start, MiB]. */
function sampleRss(pids, everyMs) {
  const t0 = performance.now();
  const samples = [];
  const take = () => {
    const { rssMiB } = memoryOf(pids);
    if (rssMiB !== null) samples.push([(performance.now() - t0) / 1000, rssMiB]);
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** One autocannon run: returns its result and the latency of every 2xx response (ms, sub-ms resolution). */
async function load(server, target, scenario, { duration, amount }) {
  const { parts } = requestsFor(scenario);
  const check = { seen: 0, sampled: 0, bad: 0, firstBad: null };
  const requests = parts.map((part) => ({
    method: part.method,
    path: part.path,
    headers: part.headers,
    body: part.body,
    // Every 50th response is parsed and checked (the body is collected by autocannon anyway).
    onResponse: (status, body) => {
      if (check.seen++ % 50 !== 0) return;
      check.sampled++;
      const problem = checkResponse(target, part, status, body);
      if (problem !== null) {
        check.bad++;
        check.firstBad ??= problem;
      }
    },
  }));
  const latencies = [];
  const instance = autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections: SIZES[scenario.size].connections,
    ...(amount === undefined ? { duration } : { amount }),
    timeout: 30,
    // autocannon only notices the end of `duration` at its next sample tick: tick often so a run lasts as long as asked.
    sampleInt: 100,
    requests,
  });
  instance.on('response', (_client, status, _bytes, ms) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  return { result, latencies, check };
}

/** One measured run of one target on one scenario, with the probe and the memory sampler around it. */
async function measure(server, target, scenario, round) {
  const idleWaitMs = await waitIdle(server);
  const peakReset = resetPeak(server.pids);
  const rss = sampleRss(server.pids, 100);
  const loadavg = os.loadavg()[0];
  const probe = startProbe(server, scenario);
  // A server with worker processes (the Python peer): how autocannon's connections (not the probe's) were split
  // between them, read halfway through the round; with one shared listening socket, one worker may take them all.
  let split = null;
  const splitTimer =
    server.pids.length > 1
      ? setTimeout(() => probe.ports().then((ports) => (split = connectionsPerWorker(server.port, server.pid, server.pids, new Set(ports)))), scenario.duration * 500)
      : null;
  const { result, latencies, check } = await load(server, target, scenario, { duration: scenario.duration });
  clearTimeout(splitTimer);
  const probed = await probe.stop();
  const rssSamples = rss.stop();
  const { hwmMiB } = memoryOf(server.pids);
  const sampledPeak = Math.max(...rssSamples.map(([, m]) => m));
  const { numbersPerRequest } = requestsFor(scenario);
  const ok = result['2xx'];
  const reqPerSec = ok / result.duration;
  const run = {
    round,
    durationS: result.duration,
    requests2xx: ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    reqPerSec: sig(reqPerSec, 5),
    numbersPerSec: sig(reqPerSec * numbersPerRequest, 4),
    latencyMs: { p50: sig(percentile(latencies, 0.5)), p99: sig(percentile(latencies, 0.99)), max: sig(percentile(latencies, 1)) },
    autocannonLatencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
    peakRssMiB: sig(peakReset && hwmMiB !== null ? Math.max(hwmMiB, sampledPeak) : sampledPeak),
    peakRssSource: peakReset ? 'VmHWM after clear_refs, and VmRSS sampled every 100 ms' : 'VmRSS sampled every 100 ms',
    probes: Object.fromEntries(
      Object.entries(probed).map(([name, p]) => [
        name,
        { samples: p.latencies.length, failures: p.failures, firstFailure: p.firstFailure, p50Ms: sig(percentile(p.latencies, 0.5)), p99Ms: sig(percentile(p.latencies, 0.99)), maxMs: sig(percentile(p.latencies, 1)) },
      ]),
    ),
    responseCheck: check,
    ...(split ? { connectionsPerWorker: split } : {}),
    loadavg1: sig(loadavg, 3),
    idleWaitMs,
  };
  // The raw probe latencies are pooled over rounds by summarise(); kept out of the JSON (non-enumerable) for size.
  Object.defineProperty(run, 'probeLatencies', { value: Object.fromEntries(Object.entries(probed).map(([name, p]) => [name, p.latencies])), enumerable: false });
  const h = probed.healthz;
  console.log(
    `  ${scenario.label.padEnd(30)} ${target.padEnd(8)} r${round} ${fmt(reqPerSec).padStart(8)} req/s  p50 ${fmt(run.latencyMs.p50)} ms  p99 ${fmt(run.latencyMs.p99)} ms  ` +
      `/healthz p99 ${fmt(percentile(h.latencies, 0.99))} ms (${h.latencies.length})  RSS ${fmt(run.peakRssMiB)} MiB` +
      (split ? `  connections per worker ${split.join('+')}` : '') +
      (result.non2xx + result.errors + result.timeouts + check.bad > 0
        ? `  !! non2xx ${result.non2xx} errors ${result.errors} timeouts ${result.timeouts} bad ${check.bad} ${check.firstBad ?? ''}`
        : ''),
  );
  return run;
}

function fmt(x) {
  if (!Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toPrecision(3);
}

/** Medians over rounds; probe latencies pooled over rounds before taking percentiles. */
function summarise(runs) {
  const pooled = (name) => runs.flatMap((r) => r.probeLatencies[name] ?? []);
  const probeSummary = (name) => {
    const all = pooled(name);
    if (runs.every((r) => r.probes[name] === undefined)) return undefined;
    return {
      samples: all.length,
      failures: runs.reduce((a, r) => a + r.probes[name].failures, 0),
      p50Ms: sig(percentile(all, 0.5)),
      p99Ms: sig(percentile(all, 0.99)),
      maxMs: sig(percentile(all, 1)),
    };
  };
  return {
    rounds: runs.length,
    reqPerSec: sig(median(runs.map((r) => r.reqPerSec)), 5),
    numbersPerSec: sig(median(runs.map((r) => r.numbersPerSec)), 4),
    p50Ms: sig(median(runs.map((r) => r.latencyMs.p50))),
    p99Ms: sig(median(runs.map((r) => r.latencyMs.p99))),
    peakRssMiB: sig(Math.max(...runs.map((r) => r.peakRssMiB))),
    healthz: probeSummary('healthz'),
    smallUnderLoad: probeSummary('small'),
    ...(runs.some((r) => r.connectionsPerWorker) ? { connectionsPerWorker: runs.map((r) => r.connectionsPerWorker ?? null) } : {}),
    failures: runs.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts + r.responseCheck.bad, 0),
    firstFailure: runs.map((r) => r.responseCheck.firstBad).find((x) => x) ?? null,
  };
}

/** The no-leak check: a fresh xent under the large scenario; RSS near the end against RSS after the first seconds. */
async function leakCheck(scenario) {
  const total = PLAN.leakSeconds;
  const early = PLAN.leakEarly;
  const w = early / 10;
  console.log(`\n[${Math.round(performance.now() / 1000 - startedAt)} s] leak check: fresh xent, ${scenario.label} for ${total} s; RSS at ${early} s vs at ${total} s${quick ? ' (quick run: shortened from 10 s vs 60 s)' : ''}`);
  const server = await startServer({ name: 'xent', ...TARGETS.xent });
  try {
    const rss = sampleRss(server.pids, 250);
    const { result, check } = await load(server, 'xent', { ...scenario, duration: total }, { duration: total });
    const samples = rss.stop();
    const inWindow = (a, b) => samples.filter(([t]) => t >= a && t <= b).map(([, m]) => m);
    const rssEarly = median(inWindow(early - w, early + w));
    const rssEnd = median(inWindow(total - 2 * w, total + 1));
    const ratio = rssEnd / rssEarly;
    const series = [];
    for (let s = 0; s <= Math.ceil(samples.at(-1)[0]); s++) {
      const near = samples.reduce((best, x) => (Math.abs(x[0] - s) < Math.abs(best[0] - s) ? x : best));
      series.push([s, sig(near[1])]);
    }
    const out = {
      scenario: scenario.id,
      seconds: total,
      earlySeconds: early,
      shortened: quick,
      windowSeconds: { early: [early - w, early + w], end: [total - 2 * w, total] },
      rssEarlyMiB: sig(rssEarly),
      rssEndMiB: sig(rssEnd),
      ratio: sig(ratio),
      requests2xx: result['2xx'],
      failures: result.non2xx + result.errors + result.timeouts + check.bad,
      rssSeriesMiB: series,
    };
    console.log(`  RSS ${fmt(rssEarly)} MiB at ${early} s, ${fmt(rssEnd)} MiB at ${total} s: ratio ${ratio.toFixed(3)} (${result['2xx']} requests)`);
    return out;
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Context: machine, versions, command

function versionOf(pkg) {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function context() {
  const cpus = os.cpus();
  const event = process.env.npm_lifecycle_event;
  const args = process.argv.slice(2);
  const extra = args.filter((a) => a !== '--quick');
  const viaNpm = event === 'bench' || event === 'bench:quick';
  return {
    date: new Date().toISOString(),
    command: viaNpm ? `npm run ${event}${extra.length > 0 ? ` -- ${extra.join(' ')}` : ''}` : ['node bench/run.mjs', ...args].join(' '),
    quick,
    machine: {
      cpuModel: cpus[0]?.model ?? 'unknown',
      cpus: cpus.length,
      availableParallelism: os.availableParallelism(),
      memoryGiB: sig(os.totalmem() / 2 ** 30, 3),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      loadavgAtStart: os.loadavg().map((x) => sig(x, 3)),
      note: 'server, load generator and probe share these cores; other engineers were using the machine too',
    },
    versions: {
      node: process.version,
      v8: process.versions.v8,
      xent: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version,
      fastify: versionOf('fastify'),
      autocannon: versionOf('autocannon'),
      piscina: versionOf('piscina'),
    },
    git: { commit: git(['rev-parse', 'HEAD']), dirty: (git(['status', '--porcelain', '--', 'src']) ?? '') !== '' },
    xentServer: relative(root, TARGETS.xent.script),
    xentEnv: {
      ...Object.fromEntries(['WORKERS', 'INLINE_MAX_BYTES', 'MAX_QUEUE', 'BODY_LIMIT', 'MAX_ELEMENTS'].filter((k) => process.env[k]).map((k) => [k, process.env[k]])),
      ...TARGETS.xent.env,
    },
    settings: {
      plan: PLAN,
      connections: Object.fromEntries(Object.entries(SIZES).map(([k, v]) => [k, v.connections])),
      probeIntervalMs: PROBE_INTERVAL_MS,
      seed: SEED,
      aggregation: 'req/s, p50, p99: median over rounds; peak RSS: max over rounds; probe percentiles: over all rounds pooled',
    },
    targetsUnderTest: Object.fromEntries(Object.entries(TARGETS).map(([k, v]) => [k, v.describe])),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Targets (issue 3)

function evaluateTargets(byId, leak) {
  const get = (id, target) => byId[id]?.results[target];
  const out = [];
  // Issue 3's targets, for xent as it is started by default; "Performance, round two"'s for both configurations.
  for (const xt of ['xent', 'xent-2p']) {
    const as = xt === 'xent' ? '' : ' (HTTP_PROCESSES=2)';
    const id = (base) => (xt === 'xent' ? base : `${base}-2p`);
    const small = [get('32x10-cost', xt), get('32x10-cost', 'constant')];
    if (small[0] && small[1]) {
      const r = small[0].reqPerSec / small[1].reqPerSec;
      out.push({ id: id('small-throughput'), what: `32×10 /cost req/s vs the constant route${as}`, measured: sig(r, 3), threshold: '≥ 0.85', pass: r >= 0.85, detail: `${fmt(small[0].reqPerSec)} vs ${fmt(small[1].reqPerSec)} req/s` });
      const p = small[0].p99Ms / small[1].p99Ms;
      out.push({ id: id('small-p99'), what: `32×10 /cost p99 vs the constant route${as}`, measured: sig(p, 3), threshold: '≤ 2', pass: p <= 2, detail: `${fmt(small[0].p99Ms)} vs ${fmt(small[1].p99Ms)} ms` });
    }
    const large = [get('8x50257-cost', xt), get('8x50257-cost', 'naive')];
    if (large[0] && large[1]) {
      const r = large[0].reqPerSec / large[1].reqPerSec;
      out.push({ id: id('large-throughput'), what: `8×50257 /cost req/s vs the naive variant${as}`, measured: sig(r, 3), threshold: '≥ 1.5', pass: r >= 1.5, detail: `${fmt(large[0].reqPerSec)} vs ${fmt(large[1].reqPerSec)} req/s` });
    }
    if (large[0]) {
      const h = large[0].healthz.p99Ms;
      const others = ['naive', 'python'].filter((t) => get('8x50257-cost', t)).map((t) => `; ${t}: ${fmt(get('8x50257-cost', t).healthz.p99Ms)} ms`);
      out.push({ id: id('large-healthz'), what: `/healthz p99 while 8×50257 /cost saturates xent (ms)${as}`, measured: h, threshold: '≤ 10 ms', pass: h <= 10, detail: `${large[0].healthz.samples} probes${others.join('')}` });
    }
    // "Performance, round two": ratios to the lean Python peer, and binary against JSON.
    for (const [base, scenario, label, min] of [
      ['small-vs-python', '32x10-cost', '32×10', 2],
      ['large-vs-python', '8x50257-cost', '8×50257', 2.5],
    ]) {
      const [x, py] = [get(scenario, xt), get(scenario, 'python')];
      if (!x || !py) continue;
      const r = x.reqPerSec / py.reqPerSec;
      out.push({ id: id(base), what: `${label} /cost req/s vs the Python peer${as}`, measured: sig(r, 3), threshold: `≥ ${min}`, pass: r >= min, detail: `${fmt(x.reqPerSec)} vs ${fmt(py.reqPerSec)} req/s` });
    }
    const binary = get('oip-8x50257-fp32', xt);
    const json = byId['oip-8x50257-fp32']?.versus?.results[xt];
    if (binary && json) {
      const r = binary.reqPerSec / json.reqPerSec;
      out.push({
        id: id('binary-vs-json'),
        what: `8×50257 OIP binary FP32 req/s vs 8×50257 JSON /cost${as}`,
        measured: sig(r, 3),
        threshold: '≥ 4',
        pass: r >= 4,
        detail: `${fmt(binary.reqPerSec)} vs ${fmt(json.reqPerSec)} req/s (JSON in alternate rounds)`,
      });
    }
  }
  if (leak) {
    out.push({
      id: 'no-leak',
      what: `RSS after ${leak.seconds} s vs after ${leak.earlySeconds} s of 8×50257 /cost${leak.shortened ? ' (quick: shortened)' : ''}`,
      measured: leak.ratio,
      threshold: '≤ 1.2',
      pass: leak.ratio <= 1.2,
      detail: `${fmt(leak.rssEarlyMiB)} → ${fmt(leak.rssEndMiB)} MiB`,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Main

const startedAt = performance.now() / 1000;

async function main() {
  const started = startedAt * 1000;
  if (!existsSync(TARGETS.xent.script)) throw new Error(`${TARGETS.xent.script} is missing: run \`npm run build\` first (npm run bench does)`);
  const ctx = context();
  console.log(`xent HTTP benchmark${quick ? ' (quick)' : ''}: ${ctx.machine.cpus} × ${ctx.machine.cpuModel}, node ${process.version}, load average ${ctx.machine.loadavgAtStart.join(' ')}`);

  // The Python peer: found (or installed from Debian's packages) before anything is timed; left out, with the
  // reason in the results, when it cannot run.
  let peer = null;
  if (scenarios.some((s) => s.targets.includes('python'))) {
    peer = opts['no-python'] ? { skipped: 'left out with --no-python' } : findPythonPeer({ install: !opts['no-install'] });
    if (peer.skipped) {
      console.log(`Python peer skipped: ${peer.skipped}`);
      for (const s of scenarios) s.targets = s.targets.filter((t) => t !== 'python');
    } else {
      TARGETS.python.command = peer.python;
      peer.command = `cd ${relative(root, TARGETS.python.cwd)} && ${[peer.python, ...TARGETS.python.args].join(' ')}`;
      peer.sockets = opts['python-shared-socket'] ? 'one listening socket shared by the workers (uvicorn --workers 2)' : 'a SO_REUSEPORT listening socket per worker (serve.py)';
      const v = peer.versions;
      console.log(`Python peer: ${peer.python}, Python ${v.python}, FastAPI ${v.fastapi}, uvicorn ${v.uvicorn} (uvloop ${v.uvloop ?? 'missing'}, httptools ${v.httptools ?? 'missing'}), numpy ${v.numpy}`);
    }
  }
  ctx.pythonPeer = peer;

  const needed = [...new Set(scenarios.flatMap((s) => s.targets))];
  const servers = {};
  try {
    await Promise.all(
      needed.map(async (t) => {
        try {
          servers[t] = await startServer({ name: t, ...TARGETS[t] });
        } catch (err) {
          if (t !== 'python') throw err;
          // The peer is a comparison, not what is measured: without it the run goes on, and says so.
          ctx.pythonPeer = { ...peer, skipped: `it did not start: ${err.message.slice(0, 2000)}` };
          console.log(`Python peer skipped: ${ctx.pythonPeer.skipped}`);
          for (const s of scenarios) s.targets = s.targets.filter((x) => x !== 'python');
          needed.splice(needed.indexOf('python'), 1);
        }
      }),
    );
    console.log(`servers: ${needed.map((t) => `${t} pid ${servers[t].pid} :${servers[t].port}`).join(', ')}`);

    // The probe's floor: /healthz on each idle server, to tell the machine's own jitter from blocking under load.
    // All at once: three probes at 50 requests/s each do not load the machine.
    const idleProbe = {};
    await Promise.all(needed.map((t) => waitIdle(servers[t])));
    const idleProbes = needed.map((t) => startProbe(servers[t], { size: 'idle' }));
    await sleep(PLAN.idleProbeSeconds * 1000);
    for (const [i, t] of needed.entries()) {
      const { healthz } = await idleProbes[i].stop();
      idleProbe[t] = { samples: healthz.latencies.length, p50Ms: sig(percentile(healthz.latencies, 0.5)), p99Ms: sig(percentile(healthz.latencies, 0.99)) };
    }
    console.log(`/healthz p99 on the idle servers: ${needed.map((t) => `${t} ${fmt(idleProbe[t].p99Ms)} ms`).join(', ')}`);

    const byId = {};
    for (const scenario of scenarios) {
      const { numbersPerRequest, bytesPerRequest } = requestsFor(scenario);
      console.log(`\n[${Math.round((performance.now() - started) / 1000)} s] ${scenario.label}: ${Math.round(bytesPerRequest).toLocaleString('en-US')} bytes, ${numbersPerRequest.toLocaleString('en-US')} numbers a request; ${scenario.targets.join(' / ')} × ${scenario.rounds} round(s) of ${scenario.duration} s`);
      const entry = { id: scenario.id, label: scenario.label, path: scenario.path, bytesPerRequest: Math.round(bytesPerRequest), numbersPerRequest, connections: SIZES[scenario.size].connections, durationS: scenario.duration, verification: {}, runs: {}, results: {} };
      byId[scenario.id] = entry;

      const xentAnswers = [];
      for (const target of scenario.targets) {
        const server = servers[target];
        // One request per part before anything is timed: the right status and the right cost (the Python peer:
        // every field as xent answers it).
        const problems = [];
        for (const [i, part] of requestsFor(scenario).parts.entries()) {
          const res = await httpRequest({ port: server.port, method: part.method, path: part.path, headers: part.headers, body: part.body });
          const problem = checkResponse(target, part, res.status, res.body);
          if (problem !== null) problems.push(problem);
          else if (target === 'xent') xentAnswers[i] = res.body;
          else if (target === 'xent-2p' && xentAnswers[i] !== undefined && res.body !== xentAnswers[i]) problems.push('answers differently from xent with one HTTP process');
          else if (target === 'python' && xentAnswers[i] !== undefined) {
            const differs = compareWithXent(res.body, xentAnswers[i]);
            if (differs !== null) problems.push(differs);
          }
        }
        entry.verification[target] = problems.length === 0 ? 'ok' : problems.join('; ');
        if (problems.length > 0) console.log(`  !! ${target} answered wrongly: ${problems.join('; ')}`);
        await load(server, target, scenario, { amount: SIZES[scenario.size].warmup });
        entry.runs[target] = [];
      }

      const versus = scenario.versus === undefined ? null : { ...SCENARIOS.find((s) => s.id === scenario.versus), duration: scenario.duration };
      if (versus !== null) {
        const { numbersPerRequest: n, bytesPerRequest: b } = requestsFor(versus);
        entry.versus = { id: versus.id, label: versus.label, bytesPerRequest: Math.round(b), numbersPerRequest: n, connections: SIZES[versus.size].connections, runs: {}, results: {} };
        for (const target of scenario.targets) await load(servers[target], target, versus, { amount: SIZES[versus.size].warmup });
      }
      for (let round = 1; round <= scenario.rounds; round++) {
        for (const target of scenario.targets) {
          entry.runs[target].push(await measure(servers[target], target, scenario, round));
          if (versus !== null) (entry.versus.runs[target] ??= []).push(await measure(servers[target], target, versus, round));
        }
      }
      for (const target of scenario.targets) entry.results[target] = summarise(entry.runs[target]);
      if (versus !== null) for (const target of scenario.targets) entry.versus.results[target] = summarise(entry.versus.runs[target]);
      for (const xt of scenario.targets.filter(isXent)) {
        const x = entry.results[xt];
        const ratios = scenario.targets.filter((t) => !isXent(t) && entry.results[t].reqPerSec > 0).map((t) => `${(x.reqPerSec / entry.results[t].reqPerSec).toFixed(2)}× ${t}`);
        if (ratios.length > 0) console.log(`  ${xt}'s req/s: ${ratios.join(', ')}`);
      }
    }

    for (const t of needed) if (!servers[t].alive()) throw new Error(`${t} died during the run:\n${servers[t].output()}`);
    await Promise.all(needed.map((t) => servers[t].stop()));

    const leakScenario = SCENARIOS.find((s) => s.id === '8x50257-cost');
    const leak = opts['no-leak'] || (only && !only.includes('8x50257-cost')) ? null : await leakCheck(leakScenario);

    const results = {
      ...ctx,
      elapsedSeconds: Math.round((performance.now() - started) / 1000),
      idleProbe,
      scenarios: Object.values(byId),
      leak,
      targets: evaluateTargets(byId, leak),
    };
    results.machine.loadavgAtEnd = os.loadavg().map((x) => sig(x, 3));

    const partial = only || opts.server !== undefined;
    const outDir = quick || partial ? join(here, 'results/tmp') : join(here, 'results');
    const base = quick ? 'quick' : partial ? 'partial' : 'latest';
    mkdirSync(outDir, { recursive: true });
    const jsonPath = join(outDir, `${base}.json`);
    writeFileSync(jsonPath, `${JSON.stringify(results, null, 1)}\n`);
    const written = writeReport(results, { svgPath: join(outDir, `${base}.svg`), readmePath: base === 'latest' ? join(here, 'README.md') : null });
    console.log(`\n${renderTable(results)}`);
    console.log(`\nwrote ${[jsonPath, ...written].map((p) => relative(root, p)).join(', ')} in ${results.elapsedSeconds} s`);

    const failed = results.scenarios.some((s) => Object.values(s.results).some((r) => r.failures > 0) || Object.values(s.verification).some((v) => v !== 'ok'));
    if (failed) {
      console.error('!! some responses were wrong or failed: see "verification" and "failures" in the results');
      process.exitCode = 1;
    }

    const kernel = join(here, 'kernel.mjs');
    if (!quick && !opts['no-kernel'] && !partial && existsSync(kernel)) {
      console.log('\nbench/kernel.mjs:');
      const run = spawnSync(process.execPath, [kernel], { stdio: 'inherit', cwd: root });
      if (run.status !== 0) process.exitCode = run.status ?? 1;
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
}

await main();
