// A paced probe, run in a worker thread so that the load generator on the main thread does not delay it: one
// request per probe every `intervalMs`, sent on schedule whether or not the previous one has answered (open loop,
// so a stalled server shows up as latency rather than as fewer samples). Latency = send to last byte, in ms.
//
// workerData: { port, intervalMs, probes: [{ name, method, path, headers, body }] }. Post 'stop' to end it; it
// answers with { [name]: { latencies: number[], failures: number, firstFailure } } once in-flight probes settle.
// Post 'ports' and it answers { ports: [...] }, the local ports of its open sockets (to tell them from the load's).

import { Agent } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { setInterval, clearInterval, setTimeout } from 'node:timers';
import { Buffer } from 'node:buffer';
import { httpRequest } from './http.mjs';

const { port, intervalMs, probes } = workerData;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });
const results = Object.fromEntries(probes.map((p) => [p.name, { latencies: [], failures: 0, firstFailure: null }]));
const inFlight = new Set();

function fire() {
  for (const probe of probes) {
    const out = results[probe.name];
    const body = probe.body ? Buffer.from(probe.body) : undefined;
    const p = httpRequest({ port, method: probe.method, path: probe.path, headers: probe.headers, body, agent, timeoutMs: 10_000 })
      .then((res) => {
        if (res.status === 200) out.latencies.push(res.ms);
        else {
          out.failures++;
          out.firstFailure ??= `HTTP ${res.status}: ${res.body.slice(0, 200)}`;
        }
      })
      .catch((err) => {
        out.failures++;
        out.firstFailure ??= String(err.message);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
}

const timer = setInterval(fire, intervalMs);
parentPort.on('message', async (message) => {
  if (message === 'ports') {
    const sockets = [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)].flat();
    parentPort.postMessage({ ports: sockets.map((s) => s.localPort).filter((p) => p !== undefined) });
    return;
  }
  if (message !== 'stop') return;
  clearInterval(timer);
  await Promise.race([Promise.allSettled([...inFlight]), new Promise((resolve) => setTimeout(resolve, 10_000))]);
  agent.destroy();
  parentPort.postMessage(results);
});
