import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { poolShare } from '../../src/cluster.js';
import { loadConfig } from '../../src/config.js';
import { SERVER, freePort, startServer, type Running } from './process.js';

let running: Running | undefined;
afterEach(() => {
  // The primary's process group: its HTTP processes die with it.
  if (running?.child.pid !== undefined) for (const pid of [...childrenOf(running.child.pid), running.child.pid]) kill(pid, 'SIGKILL');
  running = undefined;
});

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** The pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

/** Which of `pids` holds the server's end of the loopback connection from `clientPort` (Linux /proc). */
function pidServing(serverPort: number, clientPort: number, pids: number[]): number | null {
  const hex = (p: number) => `:${p.toString(16).toUpperCase().padStart(4, '0')}`;
  let inode: string | null = null;
  for (const row of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = row.trim().split(/\s+/);
    if (f.length >= 10 && f[1]!.endsWith(hex(serverPort)) && f[2]!.endsWith(hex(clientPort))) inode = f[9]!;
  }
  if (inode === null) return null;
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
    } catch {
      // exited, or the descriptor closed, meanwhile
    }
  }
  return null;
}

interface Answer {
  status: number;
  body: string;
  /** The process that answered, from the connection still open when the answer arrived. */
  pid: number | null;
}

/** One request on a connection of its own, kept open until the answer is in, and which process served it. */
function send(url: string, path: string, options: { method?: string; body?: string; pids?: number[] } = {}): Promise<Answer> {
  return sendTracked(url, path, options).answer;
}

/**
 * As send(), and the connection's local port as soon as it is connected. With `gate`, the body's first half is sent
 * at once and the rest once the gate opens.
 */
function sendTracked(url: string, path: string, options: { method?: string; body?: string; pids?: number[]; gate?: Promise<void> } = {}) {
  const { port } = new URL(url);
  let connected: (port: number) => void = () => {};
  const localPort = new Promise<number>((resolve) => (connected = resolve));
  const answer = new Promise<Answer>((resolve, reject) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const req = request(
      `${url}${path}`,
      { method: options.method ?? 'GET', agent, headers: options.body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        const pid = options.pids === undefined ? null : pidServing(Number(port), res.socket.localPort!, options.pids);
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          agent.destroy();
          resolve({ status: res.statusCode!, body: text, pid });
        });
      },
    );
    req.on('socket', (socket) => socket.once('connect', () => connected(socket.localPort!)));
    req.on('error', (err) => {
      agent.destroy();
      reject(err);
    });
    const { body, gate } = options;
    if (gate === undefined || body === undefined) req.end(body);
    else {
      req.setHeader('content-length', Buffer.byteLength(body));
      req.write(body.slice(0, body.length >> 1));
      void gate.then(() => req.end(body.slice(body.length >> 1)));
    }
  });
  return { answer, localPort };
}

/** Waits until `check` holds, polling. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A body (8 × 50 000 logits, ~3 MB) scored in a worker for tens of milliseconds. */
function largeBody(): string {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 6 - 3;
  const logits = Array.from({ length: 8 }, () => Array.from({ length: 50_000 }, () => Number(random().toFixed(5))));
  return JSON.stringify({ logits, labels: [0, 1, 2, 3, 4, 5, 6, 7] });
}

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('HTTP_PROCESSES: threads per process', () => {
  it('poolShare - WORKERS split as evenly as it goes, at least one each', () => {
    const shares = (workers: number, processes: number) => Array.from({ length: processes }, (_, i) => poolShare(workers, processes, i));
    expect(shares(2, 2)).toEqual([1, 1]);
    expect(shares(3, 2)).toEqual([2, 1]);
    expect(shares(8, 3)).toEqual([3, 3, 2]);
    expect(shares(1, 2)).toEqual([1, 1]);
    expect(shares(4, 1)).toEqual([4]);
  });

  it('loadConfig - HTTP_PROCESSES defaults to 1, takes 1 to 64, refuses 0 naming the variable', () => {
    expect(loadConfig({}).httpProcesses).toBe(1);
    expect(loadConfig({ HTTP_PROCESSES: '4' }).httpProcesses).toBe(4);
    expect(() => loadConfig({ HTTP_PROCESSES: '0' })).toThrow(/HTTP_PROCESSES/);
    expect(() => loadConfig({ HTTP_PROCESSES: '65' })).toThrow(/HTTP_PROCESSES/);
  });
});

describe.runIf(process.platform === 'linux')('HTTP_PROCESSES=2 on a real process', () => {
  const start = async (env: Record<string, string> = {}) => {
    running = await startServer({ HTTP_PROCESSES: '2', WORKERS: '2', ...env });
    const primary = running.child.pid!;
    // startServer waits for one answer from /readyz; the other process may still be starting.
    await until(() => /every HTTP process is listening/.test(running!.output()), 'both HTTP processes listen');
    return { primary, url: running.url, http: childrenOf(primary) };
  };

  it('two processes - connections are served by both, each with one thread, and /metrics adds them up', async () => {
    const { url, http } = await start();
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await send(url, '/cost', { method: 'POST', body: '{"logits":[[2,1,0.1]],"labels":[0]}', pids: http }));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(new Set(answers.map((a) => a.pid))).toEqual(new Set(http));

    const metrics = (await send(url, '/metrics')).body;
    expect(metric(metrics, 'xent_http_processes')).toBe(2);
    expect(metric(metrics, 'xent_pool_threads')).toBe(2);
    // Six scored in all, whichever process scored them (counters are summed).
    expect(metric(metrics, 'xent_samples_scored_total')).toBe(6);
  });

  it('SIGTERM to the primary while both processes receive large requests - every accepted request answered, both drain, exit 0', async () => {
    const { primary, url, http } = await start({ INLINE_MAX_BYTES: '65536', SHUTDOWN_DRAIN_MS: '300' });
    const body = largeBody();
    const expected = await send(url, '/cost', { method: 'POST', body });
    expect(expected.status).toBe(200);

    // Twelve uploads, half sent and held until after the signal: accepted, not yet complete.
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const inFlight = Array.from({ length: 12 }, () => sendTracked(url, '/cost', { method: 'POST', body, gate }));
    const ports = await Promise.all(inFlight.map((r) => r.localPort));
    // Each connection is in an HTTP process's hands once the primary has passed it on.
    let servedBy: (number | null)[] = [];
    await until(() => (servedBy = ports.map((p) => pidServing(Number(new URL(url).port), p, http))).every((pid) => pid !== null), 'every connection is accepted');
    kill(primary, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    open();
    const results = await Promise.all(inFlight.map((r) => r.answer));
    const { code } = await running!.exit;

    // Both processes had requests in flight, and both drained them.
    expect(new Set(servedBy)).toEqual(new Set(http));
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 12 }, () => 200));
    for (const r of results) expect(r.body).toBe(expected.body);
    expect(code).toBe(0);
    expect(running!.output().match(/"msg":"shutting down"/g)?.length).toBe(2);
    for (const pid of http) expect(() => process.kill(pid, 0)).toThrow();
  });

  it('a process killed - the primary starts another, and both serve again', async () => {
    const { primary, url, http } = await start();
    const [victim, survivor] = http as [number, number];
    kill(victim, 'SIGKILL');
    await until(() => {
      const now = childrenOf(primary);
      return now.length === 2 && now.includes(survivor) && !now.includes(victim);
    }, 'a replacement runs');
    const replacement = childrenOf(primary).find((pid) => pid !== survivor)!;
    await until(() => /the new HTTP process is listening/.test(running!.output()), 'the replacement listens');
    expect(metric((await send(url, '/metrics')).body, 'xent_http_processes')).toBe(2);

    const served = new Set<number | null>();
    for (let i = 0; i < 6; i++) {
      const answer = await send(url, '/healthz', { pids: [survivor, replacement] });
      expect(answer.status).toBe(200);
      served.add(answer.pid);
    }
    expect(served).toEqual(new Set([survivor, replacement]));
    expect(running!.output()).toMatch(/an HTTP process died; starting another/);
  });
});

describe('HTTP_PROCESSES=2 that cannot listen', () => {
  it('the port is taken - the primary stops at once with exit 1, without replacing processes in a loop', async () => {
    const port = await freePort();
    const blocker = createServer().listen(port, '127.0.0.1');
    await once(blocker, 'listening');
    try {
      const child = spawn(process.execPath, [SERVER], {
        env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', HTTP_PROCESSES: '2', WORKERS: '2', LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(1);
      expect(output).toMatch(/exited before it could serve/);
      expect(output).not.toMatch(/starting another/);
    } finally {
      blocker.close();
    }
  });
});
