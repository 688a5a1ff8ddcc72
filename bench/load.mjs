// Load, soak, shutdown-under-load and determinism check of the real server (`node dist/server.js`) on loopback.
//
//   npm run load                      builds, then runs with DURATION=60 s; writes bench/results/load.json
//   DURATION=600 npm run load         a 10-minute soak
//   CONNECTIONS=16 OUT=/tmp/l.json    other knobs; the CI version (test/load/load.test.ts) runs DURATION=4
//
// Four server processes with the default configuration (LOG_LEVEL=warn, no keys, no rate limit, WORKERS = available
// parallelism unless set in the environment) except where said:
// 1. load: autocannon at saturation for DURATION seconds over CONNECTIONS keep-alive connections, each cycling
//    through a mix of valid small (32×10, probabilities 4×3), valid medium (32×1000, parsed in a worker), valid large
//    (8×50257, 3.5 MB) and invalid requests (ragged, wrong content type, label out of range, unknown route), plus a
//    second autocannon on one connection sending truncated JSON (Fastify closes the connection after a body it cannot
//    parse). Every response is checked against the request it answers (found by the x-request-id the server echoes):
//    a valid request must get 200 and exactly the bytes precomputed in this process by the service's own
//    parse-decode-evaluate-serialise (dist/http/jsonBody.js), whose cost also agrees with bench/payloads.mjs's
//    textbook reference within 1e-12; an invalid one its 4xx and code. The server's RSS is sampled from
//    /proc/<pid>/status every 500 ms (the first 10 s against the last 10 s).
// 2. determinism: the same requests, byte for byte the same answers, inline (INLINE_MAX_BYTES=64 MiB), in a worker
//    (INLINE_MAX_BYTES=0), with the defaults before and after the load, under load (phase 1) and in another run of
//    the defaults (phase 3's server).
// 3. shutdown (LOG_LEVEL=info): 16 clients send valid requests (large and small) back to back, each on a fresh
//    connection with its own x-request-id, until refused; SIGTERM after 1-2 s. Every request the server logged as
//    received ("incoming request") must have been answered completely with the right bytes; a client error is
//    allowed only for requests the server never received (connection refused, or reset from the listen backlog), a
//    503 only for one refused before it was handled (XENT_SHUTTING_DOWN, read after close() began); the exit code
//    must be 0.
//
// Exits 1 when any check fails; the JSON says which.

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { scoreBody } from '../dist/codec/body.js';
import { ERRORS } from '../dist/codec/problems.js';
import { loadConfig } from '../dist/config.js';
import { makeLogits, referenceCost, scoreJsonBody } from './payloads.mjs';
import { httpRequest } from './lib/http.mjs';
import { freePort, memoryOf, xentNodeArgs } from './lib/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const SERVER = join(root, 'dist/server.js');

const DURATION = Number(process.env.DURATION ?? 60);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
const OUT = process.env.OUT ?? join(here, 'results/load.json');
const SHUTDOWN_CLIENTS = 16;
const SHUTDOWN_AFTER_MS = Math.min(2000, Math.max(1000, DURATION * 200));
if (!(DURATION > 0) || !(CONNECTIONS > 0)) throw new Error('DURATION and CONNECTIONS must be positive numbers');

const started = new Date();
const failures = [];
const fail = (what) => {
  failures.push(what);
  console.error(`FAIL ${what}`);
};

// ---------------------------------------------------------------------------------------------------------------
// Requests and their expected answers

const JSON_HEADERS = { 'content-type': 'application/json' };
const { maxElements } = loadConfig({});

/** The exact answer the service must give to a JSON body, computed in this process by its own code path. */
function expectedAnswer(body, path) {
  const outcome = scoreBody({ protocol: 'score', bytes: new Uint8Array(body), withLosses: path === '/loss', limits: { maxElements } });
  if (outcome.ok) return { status: 200, body: outcome.body };
  const code = outcome.issues[0].code;
  return { status: ERRORS[code].status, code };
}

function logitsRequest(name, n, c, seed, path) {
  const data = makeLogits(n, c, seed);
  const body = scoreJsonBody(data);
  const expected = expectedAnswer(body, path);
  // An independent check of the precomputed answer: the textbook two-pass log-sum-exp, within 1e-12.
  const cost = JSON.parse(expected.body).cost;
  const reference = referenceCost(data);
  if (!(Math.abs(cost - reference) <= 1e-12 * Math.abs(reference))) throw new Error(`${name}: kernel ${cost} vs reference ${reference}`);
  return { name, valid: true, method: 'POST', path, headers: JSON_HEADERS, body, expected };
}

function jsonRequest(name, path, text, headers = JSON_HEADERS) {
  const body = Buffer.from(text, 'utf8');
  const isJson = headers['content-type'] === 'application/json';
  const expected = isJson ? expectedAnswer(body, path) : { status: 415, code: 'XENT_UNSUPPORTED_MEDIA_TYPE' };
  return { name, valid: expected.status === 200, method: 'POST', path, headers, body, expected };
}

const REQUESTS = [
  logitsRequest('small-32x10-cost', 32, 10, 1, '/cost'),
  logitsRequest('small-32x10-loss', 32, 10, 2, '/loss'),
  jsonRequest(
    'small-probabilities-loss',
    '/loss',
    JSON.stringify({ probabilities: [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5], [1, 0, 0]], targets: [[1, 0, 0], [0, 0.9, 0.1], [0, 0, 1], [1, 0, 0]], label_smoothing: 0.1, epsilon: 1e-7, unit: 'bits' }),
  ),
  jsonRequest('invalid-ragged', '/loss', '{"logits":[[1,2,3],[4,5]],"labels":[0,1]}'),
  logitsRequest('large-8x50257-cost', 8, 50257, 3, '/cost'),
  // Fastify closes the connection after a body it could not parse, so this one is sent by its own autocannon.
  { ...jsonRequest('invalid-truncated', '/cost', '{"logits":[[1,2,3],[4,5,'), closesConnection: true },
  logitsRequest('medium-32x1000-loss', 32, 1000, 4, '/loss'),
  jsonRequest('invalid-content-type', '/cost', '{"logits":[[1,2]],"labels":[0]}', { 'content-type': 'text/plain' }),
  jsonRequest('invalid-label-out-of-range', '/cost', '{"logits":[[1,2],[3,4]],"labels":[0,2]}'),
  { name: 'invalid-unknown-route', valid: false, method: 'POST', path: '/nope', headers: JSON_HEADERS, body: Buffer.from('{}'), expected: { status: 404, code: 'XENT_NOT_FOUND' } },
];
for (const r of REQUESTS) {
  if (r.valid !== (r.expected.status === 200)) throw new Error(`${r.name}: expected ${JSON.stringify(r.expected).slice(0, 200)}`);
}

/** What is wrong with an answer to request `r`, or null. */
function check(r, status, text) {
  if (r.valid) {
    if (status !== 200) return `${r.name}: HTTP ${status} ${String(text).slice(0, 200)}`;
    return text === r.expected.body ? null : `${r.name}: the body differs from the expected bytes`;
  }
  if (status !== r.expected.status) return `${r.name}: HTTP ${status}, expected ${r.expected.status}`;
  let code;
  try {
    code = JSON.parse(text).code;
  } catch {
    return `${r.name}: the ${status} body is not JSON`;
  }
  return code === r.expected.code ? null : `${r.name}: code ${code}, expected ${r.expected.code}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Servers

/** Starts `node dist/server.js` on a free loopback port with the given environment; keeps its whole output. */
async function startServer(env) {
  const port = await freePort();
  const child = spawn(process.execPath, [...xentNodeArgs(root), SERVER], {
    env: { ...process.env, LOG_LEVEL: 'warn', API_KEYS: '', RATE_LIMIT: '0', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks = [];
  child.stdout.on('data', (d) => chunks.push(d));
  child.stderr.on('data', (d) => chunks.push(d));
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited before it was ready:\n${Buffer.concat(chunks)}`);
    try {
      if ((await httpRequest({ port, path: '/readyz', timeoutMs: 1000 })).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server was not ready after 30 s:\n${Buffer.concat(chunks)}`);
    }
    await sleep(100);
  }
  return {
    port,
    pid: child.pid,
    child,
    exit,
    output: () => Buffer.concat(chunks).toString('utf8'),
    async stop() {
      if (child.exitCode !== null) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const result = await exit;
      clearTimeout(timer);
      return result;
    },
  };
}

const live = new Set();
process.once('exit', () => {
  for (const s of live) s.child.kill('SIGKILL');
});
async function metric(port, name) {
  const text = (await httpRequest({ port, path: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

/** Sends every request once, in order; returns the answers' bodies by request name and records any wrong one. */
async function answersOf(port, label) {
  const bodies = {};
  for (const r of REQUESTS) {
    const res = await httpRequest({ port, method: r.method, path: r.path, headers: r.headers, body: r.body });
    const wrong = check(r, res.status, res.body);
    if (wrong !== null) fail(`determinism, ${label}: ${wrong}`);
    bodies[r.name] = res.body;
  }
  return bodies;
}

// ---------------------------------------------------------------------------------------------------------------
// Phase 1: load

async function loadPhase(server) {
  const byRequest = Object.fromEntries(REQUESTS.map((r) => [r.name, { sent: 0, ok: 0, wrong: 0, statuses: {} }]));
  const wrongExamples = [];
  let fiveXxValid = 0;
  // autocannon pairs responses with requests through a FIFO that goes out of step when the server closes a
  // connection (Fastify closes it after a body it could not parse), so each request carries its name as
  // x-request-id, which the server echoes, and the response is checked against the request it answers.
  let unattributed = 0;
  const byName = new Map(REQUESTS.map((r) => [r.name, r]));
  const asAutocannon = (sent) => ({
    method: sent.method,
    path: sent.path,
    headers: { ...sent.headers, 'x-request-id': sent.name },
    body: sent.body,
    onResponse: (status, body, _context, headers) => {
      const r = byName.get(headers['x-request-id']);
      if (r === undefined) {
        unattributed++;
        if (wrongExamples.length < 10) wrongExamples.push(`a ${status} without a known x-request-id (${headers['x-request-id']})`);
        return;
      }
      const tally = byRequest[r.name];
      tally.sent++;
      tally.statuses[status] = (tally.statuses[status] ?? 0) + 1;
      if (r.valid && status >= 500) fiveXxValid++;
      const wrong = check(r, status, body);
      if (wrong === null) tally.ok++;
      else {
        tally.wrong++;
        if (wrongExamples.length < 10) wrongExamples.push(wrong);
      }
    },
  });

  const rss = [];
  const started = Date.now();
  const sampler = setInterval(() => {
    const { rssMiB } = memoryOf(server.pid);
    if (rssMiB !== null) rss.push({ t: (Date.now() - started) / 1000, rssMiB });
  }, 500);
  const [result, closing] = await Promise.all([
    autocannon({
      url: `http://127.0.0.1:${server.port}`,
      connections: CONNECTIONS,
      duration: DURATION,
      timeout: 30,
      requests: REQUESTS.filter((r) => !r.closesConnection).map(asAutocannon),
    }),
    autocannon({
      url: `http://127.0.0.1:${server.port}`,
      connections: 1,
      duration: DURATION,
      timeout: 30,
      requests: REQUESTS.filter((r) => r.closesConnection).map(asAutocannon),
    }),
  ]);
  clearInterval(sampler);

  const answered = Object.values(byRequest).reduce((s, t) => s + t.sent, 0);
  const wrong = Object.values(byRequest).reduce((s, t) => s + t.wrong, 0);
  const window = Math.min(10, DURATION / 2);
  const summary = (samples) => ({
    maxMiB: round(Math.max(...samples.map((s) => s.rssMiB))),
    meanMiB: round(samples.reduce((a, s) => a + s.rssMiB, 0) / samples.length),
    samples: samples.length,
  });
  const end = rss.length > 0 ? rss[rss.length - 1].t : 0;
  const load = {
    durationSeconds: result.duration,
    connections: CONNECTIONS,
    requests: answered,
    requestsPerSecond: round(answered / result.duration),
    mixRequestsPerSecond: round(result.requests.total / result.duration),
    truncatedJsonRequestsPerSecond: round(closing.requests.total / closing.duration),
    validRequestsPerSecond: round(
      REQUESTS.filter((r) => r.valid).reduce((s, r) => s + byRequest[r.name].sent, 0) / result.duration,
    ),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors + closing.errors,
    timeouts: result.timeouts + closing.timeouts,
    fiveXxForValid: fiveXxValid,
    wrongAnswers: wrong,
    unattributed,
    wrongExamples,
    byRequest,
    rss: {
      windowSeconds: window,
      first: summary(rss.filter((s) => s.t <= window)),
      last: summary(rss.filter((s) => s.t >= end - window)),
      peakMiB: round(Math.max(...rss.map((s) => s.rssMiB))),
      series: rss.filter((_, i) => i % 2 === 0).map((s) => [round(s.t), round(s.rssMiB)]),
    },
  };
  if (load.errors !== 0) fail(`load: ${load.errors} socket errors`);
  if (load.timeouts !== 0) fail(`load: ${load.timeouts} timeouts`);
  if (fiveXxValid !== 0) fail(`load: ${fiveXxValid} valid requests answered 5xx`);
  if (wrong !== 0) fail(`load: ${wrong} wrong answers, e.g. ${wrongExamples[0]}`);
  if (unattributed !== 0) fail(`load: ${unattributed} answers without a known x-request-id`);
  for (const r of REQUESTS) if (byRequest[r.name].sent === 0) fail(`load: ${r.name} was never answered`);
  return load;
}

// ---------------------------------------------------------------------------------------------------------------
// Phase 3: SIGTERM under load

/** One request on a fresh connection; resolves with the outcome, never rejects. */
function sendOnce(port, r, id) {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, method: r.method, path: r.path, agent: false, headers: { ...r.headers, 'content-length': r.body.length, 'x-request-id': id, connection: 'close' } },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ id, name: r.name, status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => resolve({ id, name: r.name, error: err.code ?? err.message }));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ id, name: r.name, error: err.code ?? err.message }));
    req.end(r.body);
  });
}

async function shutdownPhase(server) {
  const mix = REQUESTS.filter((r) => r.valid);
  const outcomes = [];
  let stop = false;
  const clients = Array.from({ length: SHUTDOWN_CLIENTS }, async (_, c) => {
    for (let i = 0; !stop; i++) {
      const r = mix[(c + i) % mix.length];
      const outcome = await sendOnce(server.port, r, `load-${c}-${i}`);
      outcomes.push(outcome);
      if (outcome.error === 'ECONNREFUSED') return; // the listener is closed: nothing more will be accepted
    }
  });
  await sleep(SHUTDOWN_AFTER_MS);
  const signalled = Date.now();
  server.child.kill('SIGTERM');
  const exit = await server.exit;
  const exitMs = Date.now() - signalled;
  // Anything still in flight after the exit can only fail; let the clients see it, then stop them.
  await Promise.race([Promise.all(clients), sleep(5000, undefined, { ref: false })]);
  stop = true;
  await Promise.all(clients);

  // What the server says it received: pino's "incoming request" line carries the x-request-id as reqId.
  const received = new Set();
  for (const line of server.output().split('\n')) {
    if (!line.includes('incoming request')) continue;
    try {
      received.add(JSON.parse(line).reqId);
    } catch {
      // not a log line
    }
  }
  const byName = Object.fromEntries(REQUESTS.map((r) => [r.name, r]));
  const shuttingDown = (body) => {
    try {
      return JSON.parse(body).code === 'XENT_SHUTTING_DOWN';
    } catch {
      return false;
    }
  };
  const tally = { sent: outcomes.length, answered200: 0, answered503WhileClosing: 0, answeredOther: 0, refused: 0, resetBeforeReceived: 0, lost: 0, wrong: 0 };
  const lostExamples = [];
  const closing503 = new Set();
  for (const o of outcomes) {
    if (o.error === undefined) {
      const wrong = check(byName[o.name], o.status, o.body);
      if (o.status === 200 && wrong === null) tally.answered200++;
      else if (o.status === 503 && (!received.has(o.id) || shuttingDown(o.body))) {
        // Refused before it was handled: a request read after close() began gets XENT_SHUTTING_DOWN and Retry-After.
        tally.answered503WhileClosing++;
        closing503.add(o.body);
      } else {
        tally.answeredOther++;
        if (wrong !== null) tally.wrong++;
        if (lostExamples.length < 10) lostExamples.push(`${o.id}: ${wrong ?? `HTTP ${o.status}`}`);
      }
    } else if (o.error === 'ECONNREFUSED') tally.refused++;
    else if (!received.has(o.id)) tally.resetBeforeReceived++;
    else {
      tally.lost++;
      if (lostExamples.length < 10) lostExamples.push(`${o.id}: ${o.error} after the server received it`);
    }
  }
  const unanswered = [...received].filter((id) => id.startsWith('load-') && !outcomes.some((o) => o.id === id && o.error === undefined));
  const shutdown = {
    clients: SHUTDOWN_CLIENTS,
    signalAfterMs: SHUTDOWN_AFTER_MS,
    exitCode: exit.code,
    exitMs,
    receivedByServer: [...received].filter((id) => id.startsWith('load-')).length,
    ...tally,
    unanswered: unanswered.length,
    lostExamples,
    bodiesOf503WhileClosing: [...closing503],
  };
  if (exit.code !== 0) fail(`shutdown: exit code ${exit.code} (signal ${exit.signal})`);
  if (tally.lost > 0 || unanswered.length > 0) fail(`shutdown: ${tally.lost + unanswered.length} received requests lost, e.g. ${lostExamples[0]}`);
  if (tally.answeredOther > 0) fail(`shutdown: ${tally.answeredOther} requests answered other than 200 with the right bytes, e.g. ${lostExamples[0]}`);
  if (tally.answered200 === 0) fail('shutdown: nothing was answered before the signal');
  return shutdown;
}

// ---------------------------------------------------------------------------------------------------------------

const round = (x) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : null);

const timings = {};
const lap = (phase) => (timings[phase] = round((Date.now() - started.getTime()) / 1000));
lap('payloads');
console.log(`load: ${DURATION} s over ${CONNECTIONS} connections; ${REQUESTS.length} requests in the mix`);
// Four processes, started together (they idle once warmed up): the one loaded, one that scores every body inline,
// one that scores every body in a worker, and a second run of the defaults that is then shut down under load.
const [main, inline, worker, other] = await Promise.all([
  startServer({}),
  startServer({ INLINE_MAX_BYTES: String(64 * 1024 * 1024) }),
  startServer({ INLINE_MAX_BYTES: '0' }),
  startServer({ LOG_LEVEL: 'debug' }), // its 'incoming request' lines tell received from never received
]);
for (const s of [main, inline, worker, other]) live.add(s);
lap('started');

const determinism = {};
determinism['defaults, before the load'] = await answersOf(main.port, 'defaults before load');
determinism['every body inline (INLINE_MAX_BYTES=64 MiB)'] = await answersOf(inline.port, 'inline');
determinism['every body in a worker (INLINE_MAX_BYTES=0)'] = await answersOf(worker.port, 'worker');
determinism['defaults, another run'] = await answersOf(other.port, 'another run');
await Promise.all([inline.stop(), worker.stop()]);

lap('determinism');
const load = await loadPhase(main);
lap('load');
load.workerFailures = await metric(main.port, 'xent_worker_failures_total');
// autocannon abandons its last requests when its time is up; the server finishes them, and the queue empties.
const drained = Date.now();
while ((await metric(main.port, 'xent_pool_queue_size')) !== 0 && Date.now() - drained < 30_000) await sleep(100);
load.queueSizeAfter = await metric(main.port, 'xent_pool_queue_size');
load.drainMs = Date.now() - drained;
if (load.workerFailures !== 0) fail(`load: ${load.workerFailures} worker failures`);
if (load.queueSizeAfter !== 0) fail(`load: queue size ${load.queueSizeAfter} after the load`);
determinism['defaults, after the load'] = await answersOf(main.port, 'defaults after load');
const mainExit = await main.stop();
if (mainExit.code !== 0) fail(`load: the loaded server exited with ${mainExit.code} on SIGTERM`);
console.log(`load: ${load.requestsPerSecond} req/s, ${load.errors} errors, RSS ${load.rss.first.maxMiB} → ${load.rss.last.maxMiB} MiB`);

lap('loaded server stopped');
const shutdown = await shutdownPhase(other);
lap('shutdown');
console.log(`shutdown: ${shutdown.answered200} answered, ${shutdown.refused} refused, ${shutdown.lost} lost, exit ${shutdown.exitCode}`);
for (const s of [main, inline, worker, other]) live.delete(s);

// Every run gave every request the same bytes (each was also checked against the expected bytes above).
const runs = Object.keys(determinism);
const identical = REQUESTS.every((r) => runs.every((run) => determinism[run][r.name] === determinism[runs[0]][r.name]));
if (!identical) fail('determinism: answers differ between runs');

const results = {
  date: started.toISOString(),
  command: `DURATION=${DURATION} CONNECTIONS=${CONNECTIONS} node bench/load.mjs`,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` },
  server: { workers: process.env.WORKERS ?? `${os.availableParallelism()} (available parallelism)`, logLevel: 'warn (info for the shutdown phase)' },
  mix: REQUESTS.map((r) => ({ name: r.name, path: r.path, bytes: r.body.length, expect: r.expected.status === 200 ? 200 : `${r.expected.status} ${r.expected.code}` })),
  load,
  determinism: { runs, requests: REQUESTS.length, identical },
  shutdown,
  secondsSinceStartAfter: timings,
  ok: failures.length === 0,
  failures,
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
console.log(`${failures.length === 0 ? 'ok' : `${failures.length} failures`}; results in ${OUT}`);
process.exitCode = failures.length === 0 ? 0 : 1;
