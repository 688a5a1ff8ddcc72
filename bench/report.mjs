// Regenerates the results page from a results file, so that the README, the chart and the JSON never disagree:
// the chart next to the JSON (latest.json -> latest.svg) and, for latest.json, the block between the
// `results:start` / `results:end` markers in bench/README.md.
//
//   node bench/report.mjs                              # bench/results/latest.json -> latest.svg + README block
//   node bench/report.mjs bench/results/tmp/quick.json # -> tmp/quick.svg only

import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { describePeer, formatBytes, formatNumber, renderChart } from './chart.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const START = '<!-- results:start -->';
const END = '<!-- results:end -->';
const ORDER = ['xent', 'xent-2p', 'constant', 'naive', 'python'];
const isXent = (t) => t === 'xent' || t === 'xent-2p';

const f = formatNumber;

/** The figures as Markdown: run line, targets, one row per scenario and server, the leak check. */
export function renderTable(results) {
  const m = results.machine;
  const v = results.versions;
  const lines = [];
  lines.push(
    `**Run:** ${results.date.slice(0, 19).replace('T', ' ')} UTC · \`${results.command}\` · ${results.elapsedSeconds} s · ` +
      `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os} · load average ${m.loadavgAtStart.join(' / ')} at start, ` +
      `${(m.loadavgAtEnd ?? []).join(' / ')} at end · Node ${v.node} · fastify ${v.fastify} · autocannon ${v.autocannon} · piscina ${v.piscina} · ` +
      `commit ${results.git.commit?.slice(0, 10) ?? '?'}${results.git.dirty ? ' (with uncommitted changes in src/)' : ''}` +
      (results.pythonPeer ? ` · ${describePeer(results.pythonPeer)}` : ''),
  );
  lines.push('');
  lines.push(
    `Rounds of ${results.settings.plan.duration} s (target scenarios, ${results.settings.plan.rounds} rounds) and ${results.settings.plan.otherDuration} s ` +
      `(others, ${results.settings.plan.otherRounds} rounds), servers interleaved A B A B; ${results.settings.aggregation}. ` +
      `xent environment: ${Object.entries(results.xentEnv).map(([k, x]) => `${k}=${x === '' ? "''" : x}`).join(' ')} (WORKERS defaults to the ${m.availableParallelism} available cores).`,
  );
  if (results.idleProbe) {
    lines.push('');
    lines.push(
      `/healthz on the idle servers, the probe's floor on this machine at the time: ` +
        `${Object.entries(results.idleProbe).map(([t, p]) => `${t} p50 ${f(p.p50Ms)} ms, p99 ${f(p.p99Ms)} ms`).join('; ')}.`,
    );
  }
  lines.push('');
  lines.push('| target | measured | threshold | result | detail |');
  lines.push('| --- | ---: | --- | --- | --- |');
  for (const t of results.targets) {
    lines.push(`| ${t.what} | ${f(t.measured)}${t.id.startsWith('large-healthz') ? ' ms' : '×'} | ${t.threshold} | ${t.pass ? '✅ pass' : '❌ fail'} | ${t.detail} |`);
  }
  lines.push('');
  lines.push('| scenario | body | conn. | server | req/s | xent ÷ this (xent-2p ÷ this) | p50 ms | p99 ms | numbers/s | peak RSS MiB | /healthz p99 ms | checks |');
  lines.push('| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const row = (s, label, results, bytes, connections) => {
    for (const t of ORDER) {
      const r = results[t];
      if (!r) continue;
      const verified = s.verification[t] ?? 'ok';
      const checks = verified !== 'ok' ? `wrong: ${verified}` : r.failures > 0 ? `${r.failures} failed: ${r.firstFailure ?? 'non-2xx/errors'}` : 'ok';
      const under = r.smallUnderLoad ? ` (32×10 /cost probe p99 ${f(r.smallUnderLoad.p99Ms)})` : '';
      const ratioOf = (x) => (results[x] && r.reqPerSec > 0 ? `${f(results[x].reqPerSec / r.reqPerSec)}×` : '');
      const ratio = isXent(t) ? '' : `${ratioOf('xent')}${results['xent-2p'] ? ` (${ratioOf('xent-2p')})` : ''}`;
      lines.push(
        `| ${label} | ${formatBytes(bytes)} | ${connections} | ${isXent(t) ? `**${t}**` : t} | ${f(r.reqPerSec)} | ${ratio} | ${f(r.p50Ms)} | ${f(r.p99Ms)} | ` +
          `${(r.numbersPerSec / 1e6).toFixed(r.numbersPerSec >= 1e7 ? 0 : 2)} M | ${f(r.peakRssMiB)} | ${f(r.healthz?.p99Ms)}${under} | ${checks} |`,
      );
    }
  };
  for (const s of results.scenarios) {
    row(s, s.label, s.results, s.bytesPerRequest, s.connections);
    if (s.versus) row(s, `↳ ${s.versus.label}, in alternate rounds of the above`, s.versus.results, s.versus.bytesPerRequest, s.versus.connections);
  }
  const splits = results.scenarios.filter((s) => s.results.python?.connectionsPerWorker);
  if (splits.length > 0) {
    lines.push('');
    lines.push(
      `Python peer, autocannon's connections per worker in each round (${results.pythonPeer?.sockets ?? '?'}): ` +
        `${splits.map((s) => `${s.label} ${s.results.python.connectionsPerWorker.map((c) => c?.join('+') ?? '?').join(', ')}`).join('; ')}.`,
    );
  }
  if (results.leak) {
    const l = results.leak;
    lines.push('');
    lines.push(
      `Leak check: a fresh xent under 8×50257 /cost for ${l.seconds} s (${f(l.requests2xx)} requests${l.failures ? `, ${l.failures} failed` : ''}): ` +
        `RSS ${f(l.rssEarlyMiB)} MiB at ${l.earlySeconds} s, ${f(l.rssEndMiB)} MiB at ${l.seconds} s (medians of the samples in ` +
        `${l.windowSeconds.early.map((x) => f(x)).join('–')} s and ${l.windowSeconds.end.map((x) => f(x)).join('–')} s), ratio ${f(l.ratio)}` +
        `${l.shortened ? ' — quick run, shortened from 10 s vs 60 s' : ''}.`,
    );
  }
  return lines.join('\n');
}

/** Writes the chart and, when readmePath is given, the README block. Returns the paths written. */
export function writeReport(results, { svgPath, readmePath }) {
  writeFileSync(svgPath, renderChart(results));
  const written = [svgPath];
  if (readmePath) {
    const readme = readFileSync(readmePath, 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    if (start < 0 || end < start) throw new Error(`${readmePath} has no ${START} … ${END} block`);
    const chart = `results/${basename(svgPath)}`;
    const block = [
      START,
      '<!-- Generated by `node bench/report.mjs` from bench/results/latest.json; edits here are overwritten. -->',
      '',
      renderTable(results),
      '',
      `![req/s per scenario for xent, the baselines and the Python peer, /healthz p99 under load, RSS over the leak check](${chart})`,
      '',
      END,
    ].join('\n');
    writeFileSync(readmePath, readme.slice(0, start) + block + readme.slice(end + END.length));
    written.push(readmePath);
  }
  return written;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const jsonPath = resolve(process.argv[2] ?? join(here, 'results/latest.json'));
  const results = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const isLatest = jsonPath === join(here, 'results/latest.json');
  const written = writeReport(results, {
    svgPath: jsonPath.replace(/\.json$/, '.svg'),
    readmePath: isLatest ? join(here, 'README.md') : null,
  });
  console.log(`wrote ${written.join(', ')}`);
}
