// The streaming scenario (issue 15): a dataset through POST /cost/stream as one NDJSON body, against the same lines sent
// as /cost requests in batches (one connection, as the stream is one; and several), in MB/s of request bytes and
// samples/s, for lines of three sizes: small (scored on the event loop, per-request overhead dominates), medium (still
// inline) and large (each line moved to a worker). Each side runs for --duration seconds; the stream's answer is
// checked against the figures of the lines it carried.
//
//   npm run bench:stream                      # every scenario, 4 s a side
//   node bench/stream.mjs --duration=2 --only=small
//
// Writes results/stream.json (results/tmp/stream.json with --only).

import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { makeLogits, scoreJsonBody } from './payloads.mjs';
import { startServer } from './lib/servers.mjs';
import { sig } from './lib/stats.mjs';

const SCENARIOS = [
  { id: 'small', n: 32, c: 10, distinct: 64 },
  { id: 'medium', n: 256, c: 100, distinct: 16 },
  { id: 'large', n: 16, c: 50257, distinct: 4 },
];

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? true];
  }),
);
const DURATION_S = Number(args.duration ?? 4);
const CONNECTIONS = Number(args.connections ?? 4);
const only = typeof args.only === 'string' ? new Set(args.only.split(',')) : null;

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(port, path, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers: { 'content-length': body.length, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** /cost requests, `connections` at a time, each connection sending the lines in turn, for DURATION_S. */
async function costInBatches(port, lines, connections) {
  let bytes = 0;
  let samples = 0;
  let requests = 0;
  const started = performance.now();
  const deadline = started + DURATION_S * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, k) => {
      for (let i = k; performance.now() < deadline; i += connections) {
        const line = lines[i % lines.length];
        const res = await post(port, '/cost', line.bytes, { 'content-type': 'application/json' });
        if (res.status !== 200) throw new Error(`/cost answered ${res.status}: ${res.body.slice(0, 200)}`);
        bytes += line.bytes.length;
        samples += line.n;
        requests++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { seconds, bytes, samples, requests };
}

/** One POST /cost/stream whose body is the lines in turn, written for DURATION_S; the answer checked against them. */
function stream(port, lines) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const deadline = started + DURATION_S * 1000;
    const sent = new Array(lines.length).fill(0);
    let bytes = 0;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/cost/stream', headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const seconds = (performance.now() - started) / 1000;
        const answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (res.statusCode !== 200) return reject(new Error(`/cost/stream answered ${res.statusCode}: ${JSON.stringify(answer)}`));
        // The figures of the lines sent: Σ k_i·sum_i / Σ k_i·weight_i, from each line's own /cost answer.
        let sum = 0;
        let weight = 0;
        let samples = 0;
        lines.forEach((l, i) => {
          sum += sent[i] * l.sum;
          weight += sent[i] * l.weight;
          samples += sent[i] * l.n;
        });
        const error = Math.abs(answer.cost - sum / weight) / (sum / weight);
        if (answer.count !== samples || !(error < 1e-12)) return reject(new Error(`stream answer ${JSON.stringify(answer)} is not the data's (cost ${sum / weight}, ${samples} samples)`));
        resolve({ seconds, bytes, samples, requests: 1, lines: sent.reduce((a, b) => a + b, 0), relativeError: error });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    (async () => {
      for (let i = 0; performance.now() < deadline; i++) {
        const k = i % lines.length;
        const line = lines[k];
        sent[k]++;
        bytes += line.ndjson.length;
        if (!req.write(line.ndjson)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(reject);
  });
}

const rate = (r) => ({ mbPerS: r.bytes / 1e6 / r.seconds, samplesPerS: r.samples / r.seconds });

async function main() {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const server = await startServer({
    name: 'xent',
    script: `${root}dist/server.js`,
    // A stream must arrive within REQUEST_TIMEOUT_MS (README "Whole datasets"): well above a side's duration.
    env: { LOG_LEVEL: 'warn', API_KEYS: '', RATE_LIMIT: '0', REQUEST_TIMEOUT_MS: String(Math.max(30_000, DURATION_S * 4000)) },
  });
  const results = [];
  try {
    for (const scenario of SCENARIOS) {
      if (only !== null && !only.has(scenario.id)) continue;
      const lines = [];
      for (let i = 0; i < scenario.distinct; i++) {
        const data = makeLogits(scenario.n, scenario.c, 1000 + i);
        const bytes = scoreJsonBody(data);
        const answer = JSON.parse((await post(server.port, '/cost', bytes, { 'content-type': 'application/json' })).body);
        lines.push({ n: scenario.n, bytes, ndjson: Buffer.concat([bytes, Buffer.from('\n')]), sum: answer.sum, weight: answer.total_weight });
      }
      const lineBytes = lines.reduce((a, l) => a + l.bytes.length, 0) / lines.length;
      const streamed = await stream(server.port, lines);
      const one = await costInBatches(server.port, lines, 1);
      const many = await costInBatches(server.port, lines, CONNECTIONS);
      const row = { scenario: scenario.id, n: scenario.n, c: scenario.c, lineBytes, stream: { ...streamed, ...rate(streamed) }, cost1: { ...one, ...rate(one) }, costN: { ...many, ...rate(many), connections: CONNECTIONS } };
      results.push(row);
      console.log(
        `${scenario.id.padEnd(6)} ${scenario.n}x${scenario.c} (${sig(lineBytes / 1e3, 3)} kB a line): ` +
          `stream ${sig(row.stream.mbPerS, 3)} MB/s ${sig(row.stream.samplesPerS, 3)} samples/s (${streamed.lines} lines) | ` +
          `/cost x1 ${sig(row.cost1.mbPerS, 3)} MB/s ${sig(row.cost1.samplesPerS, 3)} samples/s | ` +
          `/cost x${CONNECTIONS} ${sig(row.costN.mbPerS, 3)} MB/s ${sig(row.costN.samplesPerS, 3)} samples/s`,
      );
    }
  } finally {
    await server.stop();
    agent.destroy();
  }

  console.log('\n| lines | line | stream MB/s | stream samples/s | /cost, 1 conn. MB/s | samples/s | /cost, ' + CONNECTIONS + ' conn. MB/s | samples/s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.scenario} ${r.n}×${r.c} | ${sig(r.lineBytes / 1e3, 3)} kB | ${sig(r.stream.mbPerS, 3)} | ${Math.round(r.stream.samplesPerS).toLocaleString('en-US')} | ` +
        `${sig(r.cost1.mbPerS, 3)} | ${Math.round(r.cost1.samplesPerS).toLocaleString('en-US')} | ${sig(r.costN.mbPerS, 3)} | ${Math.round(r.costN.samplesPerS).toLocaleString('en-US')} |`,
    );
  }
  const out = only === null ? new URL('results/stream.json', import.meta.url) : new URL('results/tmp/stream.json', import.meta.url);
  mkdirSync(new URL('.', out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(), durationS: DURATION_S, command: process.argv.slice(1).join(' '), results }, null, 2)}\n`,
  );
  console.log(`\nwrote ${fileURLToPath(out)}`);
}

await main();
