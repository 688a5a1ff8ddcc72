// Renders bench results as a self-contained SVG: req/s per scenario for xent, the baselines and the Python peer (one panel per
// scenario, each on its own linear scale), /healthz p99 under load on a log scale against the 10 ms target, and the
// RSS of the leak check over time. No chart library: plain SVG elements with fixed fonts, readable as a PNG too.

const COLORS = { xent: '#1f6fb4', 'xent-2p': '#6aa8dc', constant: '#9a9a9a', naive: '#e8751a', python: '#3a8f3f' };
const ORDER = ['xent', 'xent-2p', 'constant', 'naive', 'python'];
const FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'";
const WIDTH = 1200;

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function text(x, y, s, { size = 12, anchor = 'start', weight = 'normal', fill = '#222' } = {}) {
  return `<text x='${x.toFixed(1)}' y='${y.toFixed(1)}' ${FONT} font-size='${size}' font-weight='${weight}' fill='${fill}' text-anchor='${anchor}'>${esc(s)}</text>`;
}

const rect = (x, y, w, h, fill, extra = '') => `<rect x='${x.toFixed(1)}' y='${y.toFixed(1)}' width='${Math.max(0, w).toFixed(1)}' height='${h.toFixed(1)}' fill='${fill}' ${extra}/>`;
const line = (x1, y1, x2, y2, stroke, extra = '') => `<line x1='${x1.toFixed(1)}' y1='${y1.toFixed(1)}' x2='${x2.toFixed(1)}' y2='${y2.toFixed(1)}' stroke='${stroke}' ${extra}/>`;

export function formatNumber(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 100) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 10) return x.toFixed(1);
  if (Math.abs(x) >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

export function formatBytes(b) {
  if (b >= 1e6) return `${(b / 1e6).toFixed(1)} MB`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(b >= 1e4 ? 0 : 1)} kB`;
  return `${b} B`;
}

/** The Python peer in one line: its versions, or why it was left out. */
export function describePeer(peer) {
  if (peer.skipped) return `Python peer skipped: ${peer.skipped.replace(/\s+/g, ' ').replaceAll('|', '/')}`;
  const v = peer.versions;
  const loop = [v.uvloop && `uvloop ${v.uvloop}`, v.httptools && `httptools ${v.httptools}`].filter(Boolean);
  const sockets = peer.sockets?.startsWith('one') ? 'uvicorn --workers 2, one shared socket' : 'serve.py: 2 uvicorn workers, a socket each';
  return `Python peer: Python ${v.python}, FastAPI ${v.fastapi}, uvicorn ${v.uvicorn}${loop.length > 0 ? ` (${loop.join(', ')})` : ' (asyncio, h11)'}, numpy ${v.numpy}; ${sockets}`;
}

function header(results) {
  const m = results.machine;
  const v = results.versions;
  const out = [];
  out.push(text(24, 34, `xent HTTP benchmark${results.quick ? ' (quick run: short, noisy)' : ''}`, { size: 22, weight: 'bold' }));
  out.push(
    text(
      24,
      56,
      `${results.date.slice(0, 16).replace('T', ' ')} UTC · ${results.command} · ${m.cpus} × ${m.cpuModel}, shared by the servers, the load ` +
        `generator and other users (load average ${m.loadavgAtStart[0]} at start)`,
      { size: 12, fill: '#555' },
    ),
  );
  out.push(
    text(24, 73, `Node ${v.node} · fastify ${v.fastify} · autocannon ${v.autocannon} · piscina ${v.piscina} · commit ${results.git.commit?.slice(0, 10) ?? '?'}${results.git.dirty ? ' + uncommitted src/' : ''}`, {
      size: 12,
      fill: '#555',
    }),
  );
  let y = 86;
  if (results.pythonPeer) {
    const peer = describePeer(results.pythonPeer);
    out.push(text(24, 90, peer.length > 180 ? `${peer.slice(0, 179)}…` : peer, { size: 12, fill: '#555' }));
    y += 17;
  }
  // Legend
  let x = 24;
  for (const t of ORDER) {
    out.push(rect(x, y, 14, 14, COLORS[t]));
    const label = {
      xent: 'xent (dist/server.js)',
      'xent-2p': 'xent-2p (HTTP_PROCESSES=2)',
      constant: 'constant route (floor: parse + constant answer)',
      naive: 'naive (JSON.parse + inline loop)',
      python: results.pythonPeer?.skipped ? 'python peer: skipped' : 'python (FastAPI + numpy, 2 uvicorn workers)',
    }[t];
    out.push(text(x + 20, y + 12, label, { size: 12 }));
    x += 20 + label.length * 6.6 + 24;
  }
  return { svg: out.join(''), height: y + 26 };
}

function targetsList(results, y0) {
  const out = [text(24, y0 + 18, 'Targets (issue 3; ratios to the Python peer: "Performance, round two"), measured in this run', { size: 15, weight: 'bold' })];
  const rowH = 24;
  results.targets.forEach((t, i) => {
    const y = y0 + 30 + i * rowH;
    const color = t.pass ? '#2e7d32' : '#c62828';
    out.push(rect(24, y, WIDTH - 48, rowH - 3, i % 2 === 0 ? '#f6f6f6' : '#ffffff'));
    out.push(rect(28, y + 3, 46, rowH - 9, color, "rx='3'"));
    out.push(text(51, y + 15, t.pass ? 'PASS' : 'FAIL', { size: 11, weight: 'bold', fill: '#fff', anchor: 'middle' }));
    out.push(text(84, y + 15, t.what, { size: 12 }));
    out.push(text(640, y + 15, `${formatNumber(t.measured)}${t.id.startsWith('large-healthz') ? ' ms' : '×'}`, { size: 13, weight: 'bold', fill: color, anchor: 'end' }));
    out.push(text(650, y + 15, `target ${t.threshold}`, { size: 12, fill: '#444' }));
    out.push(text(770, y + 15, t.detail, { size: 12, fill: '#555' }));
  });
  if (results.targets.length === 0) out.push(text(24, y0 + 46, 'no target scenario in this run', { size: 12, fill: '#555' }));
  return { svg: out.join(''), height: 40 + Math.max(1, results.targets.length) * rowH };
}

function throughputPanels(results, y0) {
  const out = [text(24, y0 + 18, 'Throughput: requests per second (higher is better; each panel has its own scale, median of rounds)', { size: 15, weight: 'bold' })];
  const cols = 3;
  const gap = 14;
  const panelW = (WIDTH - 48 - (cols - 1) * gap) / cols;
  // Room for every server's bar and two footer lines.
  const panelH = 46 + Math.max(...results.scenarios.map((s) => ORDER.filter((t) => s.results[t]).length), 1) * 22 + 32;
  results.scenarios.forEach((s, i) => {
    const x = 24 + (i % cols) * (panelW + gap);
    const y = y0 + 30 + Math.floor(i / cols) * (panelH + gap);
    out.push(rect(x, y, panelW, panelH, '#fafafa', "stroke='#ddd' rx='4'"));
    out.push(text(x + 10, y + 19, s.label, { size: 13, weight: 'bold' }));
    out.push(text(x + 10, y + 35, `${formatBytes(s.bytesPerRequest)} · ${formatNumber(s.numbersPerRequest)} numbers · ${s.connections} connections`, { size: 11, fill: '#666' }));
    const targets = ORDER.filter((t) => s.results[t]);
    const max = Math.max(...targets.map((t) => s.results[t].reqPerSec || 0), 1e-9);
    const barX = x + 78;
    const barMax = panelW - 78 - 96;
    targets.forEach((t, j) => {
      const r = s.results[t];
      const by = y + 46 + j * 22;
      out.push(text(x + 10, by + 13, t, { size: 12 }));
      const w = (barMax * (r.reqPerSec || 0)) / max;
      out.push(rect(barX, by, w, 16, COLORS[t]));
      const bad = r.failures > 0 || s.verification[t] !== 'ok';
      out.push(text(barX + w + 6, by + 13, `${formatNumber(r.reqPerSec)}/s${bad ? ' ⚠' : ''}`, { size: 12, weight: t === 'xent' ? 'bold' : 'normal', fill: bad ? '#c62828' : '#222' }));
    });
    const ratiosOf = (xt) =>
      ['constant', 'naive', 'python'].filter((t) => s.results[t]?.reqPerSec > 0).map((t) => `${formatNumber(s.results[xt].reqPerSec / s.results[t].reqPerSec)}× ${t}`);
    const x0 = s.results.xent;
    if (x0) {
      const ratios = ratiosOf('xent');
      const two = s.results['xent-2p'] ? ratiosOf('xent-2p') : [];
      out.push(text(x + 10, y + panelH - 24, two.length > 0 ? `xent-2p's = ${two.join(', ')}` : `xent p99 ${formatNumber(x0.p99Ms)} ms`, { size: 11, fill: '#444' }));
      if (ratios.length > 0) out.push(text(x + 10, y + panelH - 10, `xent's req/s = ${ratios.join(', ')}`, { size: 11, fill: '#444' }));
    }
  });
  const rows = Math.ceil(results.scenarios.length / cols);
  return { svg: out.join(''), height: 30 + rows * (panelH + gap) + 6 };
}

function healthzChart(results, y0) {
  const out = [text(24, y0 + 18, '/healthz p99 while each scenario loads the server (ms, log scale; lower is better; probe every 20 ms)', { size: 15, weight: 'bold' })];
  const labelW = 230;
  const plotX = 24 + labelW;
  const plotW = WIDTH - plotX - 110;
  const lo = 0.1;
  const all = results.scenarios.flatMap((s) => Object.values(s.results).map((r) => r.healthz?.p99Ms ?? 0));
  const hi = 10 ** Math.max(3, Math.ceil(Math.log10(Math.max(...all, 1))));
  const xOf = (v) => plotX + (plotW * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const rowH = 9;
  let y = y0 + 46;
  const top = y - 8;
  const rows = [];
  for (const s of results.scenarios) {
    const targets = ORDER.filter((t) => s.results[t]?.healthz);
    rows.push({ s, targets, y });
    y += targets.length * (rowH + 2) + 10;
  }
  const bottom = y - 4;
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    out.push(line(xOf(v), top, xOf(v), bottom, '#e3e3e3'));
    out.push(text(xOf(v), bottom + 14, v < 1 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'), { size: 11, anchor: 'middle', fill: '#666' }));
  }
  out.push(line(xOf(10), top - 6, xOf(10), bottom, '#c62828', "stroke-width='1.5' stroke-dasharray='5,3'"));
  if (results.idleProbe) {
    const idle = Object.entries(results.idleProbe).map(([t, p]) => `${t} ${formatNumber(p.p99Ms)} ms`).join(', ');
    out.push(text(plotX, bottom + 30, `For scale, /healthz p99 on the idle servers (the machine's own jitter): ${idle}`, { size: 11, fill: '#555' }));
  }
  out.push(text(xOf(10) + 4, top - 10 + 8, 'target for 8×50257: 10 ms', { size: 11, fill: '#c62828' }));
  for (const { s, targets, y: ry } of rows) {
    const mid = ry + (targets.length * (rowH + 2)) / 2;
    out.push(text(plotX - 8, mid + 4, s.label, { size: 12, anchor: 'end' }));
    targets.forEach((t, j) => {
      const v = s.results[t].healthz.p99Ms;
      const by = ry + j * (rowH + 2);
      out.push(rect(plotX, by, xOf(v) - plotX, rowH, COLORS[t]));
      out.push(text(xOf(v) + 5, by + rowH - 1, `${formatNumber(v)}`, { size: 10, fill: '#333' }));
    });
  }
  return { svg: out.join(''), height: bottom - y0 + (results.idleProbe ? 42 : 24) };
}

function leakChart(results, y0) {
  const leak = results.leak;
  if (!leak) return { svg: '', height: 0 };
  const out = [
    text(24, y0 + 18, `No-leak check: RSS of a fresh xent under 8×50257 /cost for ${leak.seconds} s${leak.shortened ? ' (quick run: shortened from 60 s)' : ''}`, {
      size: 15,
      weight: 'bold',
    }),
    text(
      24,
      y0 + 36,
      `${formatNumber(leak.rssEarlyMiB)} MiB at ${leak.earlySeconds} s, ${formatNumber(leak.rssEndMiB)} MiB at ${leak.seconds} s: ratio ${formatNumber(leak.ratio)} ` +
        `(target ≤ 1.2) · ${formatNumber(leak.requests2xx)} requests`,
      { size: 12, fill: '#555' },
    ),
  ];
  const px = 84;
  const pw = WIDTH - px - 40;
  const ph = 150;
  const py = y0 + 54;
  const series = leak.rssSeriesMiB;
  const maxT = Math.max(leak.seconds, series.at(-1)?.[0] ?? 1);
  const maxM = Math.max(...series.map(([, m]) => m), leak.rssEarlyMiB * 1.2) * 1.1;
  const xOf = (t) => px + (pw * t) / maxT;
  const yOf = (m) => py + ph - (ph * m) / maxM;
  out.push(rect(px, py, pw, ph, '#fafafa', "stroke='#ddd'"));
  const step = 10 ** Math.floor(Math.log10(maxM / 2));
  const tick = maxM / step > 8 ? step * 2 : step;
  for (let m = 0; m <= maxM; m += tick) {
    out.push(line(px, yOf(m), px + pw, yOf(m), '#eee'));
    out.push(text(px - 6, yOf(m) + 4, `${Math.round(m)}`, { size: 11, anchor: 'end', fill: '#666' }));
  }
  out.push(text(px - 6, py - 6, 'MiB', { size: 11, anchor: 'end', fill: '#666' }));
  const tStep = maxT > 20 ? 10 : 1;
  for (let t = 0; t <= maxT; t += tStep) out.push(text(xOf(t), py + ph + 14, `${t} s`, { size: 11, anchor: 'middle', fill: '#666' }));
  const limit = leak.rssEarlyMiB * 1.2;
  out.push(line(px, yOf(limit), px + pw, yOf(limit), '#c62828', "stroke-dasharray='5,3'"));
  out.push(text(px + pw - 4, yOf(limit) - 4, '1.2 × RSS at the early mark', { size: 11, anchor: 'end', fill: '#c62828' }));
  const points = series.map(([t, m]) => `${xOf(t).toFixed(1)},${yOf(m).toFixed(1)}`).join(' ');
  out.push(`<polyline points='${points}' fill='none' stroke='${COLORS.xent}' stroke-width='2'/>`);
  for (const [t, m] of [[leak.earlySeconds, leak.rssEarlyMiB], [leak.seconds, leak.rssEndMiB]]) {
    out.push(`<circle cx='${xOf(t).toFixed(1)}' cy='${yOf(m).toFixed(1)}' r='4' fill='${COLORS.xent}' stroke='#fff'/>`);
  }
  return { svg: out.join(''), height: ph + 80 };
}

/** The whole chart as an SVG document. */
export function renderChart(results) {
  const parts = [];
  let y = 0;
  for (const section of [header, targetsList, throughputPanels, healthzChart, leakChart]) {
    const { svg, height } = section(results, y);
    parts.push(svg);
    y += height;
  }
  const height = Math.ceil(y + 10);
  return (
    `<svg xmlns='http://www.w3.org/2000/svg' width='${WIDTH}' height='${height}' viewBox='0 0 ${WIDTH} ${height}'>` +
    `<rect width='100%' height='100%' fill='#ffffff'/>${parts.join('')}</svg>\n`
  );
}
