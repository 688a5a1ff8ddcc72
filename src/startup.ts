import { shortBytes } from './byteSize.js';
import type { Config } from './config.js';
import { SERVICE_VERSION } from './http/version.js';

/**
 * The first log line: what is running, where its docs are, and the limits a first request can meet. Given to
 * Fastify's `listenTextResolver`, so it is the line Fastify logs once the server listens, for the first address;
 * the others (all of the machine's, when HOST is 0.0.0.0) follow as one short line each.
 */
export function startBanner(config: Readonly<Config>): (address: string) => string {
  let first = true;
  return (address) => {
    if (!first) return `also listening at ${address}`;
    first = false;
    const limits = [
      `${config.workers} worker${config.workers === 1 ? '' : 's'}`,
      `BODY_LIMIT ${shortBytes(config.bodyLimit)}`,
      `MAX_ELEMENTS ${config.maxElements}`,
      `REQUEST_TIMEOUT_MS ${config.requestTimeoutMs}`,
      `API keys ${config.apiKeys.length > 0 ? 'required' : 'off'}`,
      `RATE_LIMIT ${config.rateLimit > 0 ? `${config.rateLimit} per ${config.rateLimitWindowMs} ms` : 'off'}`,
    ];
    return `xent ${SERVICE_VERSION} ready at ${address} · docs ${address}/docs · ${limits.join(' · ')}`;
  };
}

/**
 * What the process says when it cannot start listening: one line a person can act on, naming the variable to change,
 * instead of a stack trace. Null for an error not foreseen here (it is thrown as it is).
 */
export function listenFailure(err: unknown, config: Pick<Config, 'host' | 'port'>): string | null {
  const { host, port } = config;
  switch ((err as NodeJS.ErrnoException | null)?.code) {
    case 'EADDRINUSE':
      return `port ${port} is already in use on ${host}: stop the process listening there, or set PORT to a free port (PORT=${port === 65535 ? 3000 : port + 1} npm start)`;
    case 'EACCES':
      return `no permission to listen on port ${port}: ports below 1024 need privileges; set PORT to 1024 or above`;
    case 'EADDRNOTAVAIL':
      return `HOST=${host} is not an address of this machine: set HOST to one of its addresses, or to 0.0.0.0 for all of them`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `HOST=${host} cannot be resolved: set HOST to an address of this machine, or to 0.0.0.0 for all of them`;
    default:
      return null;
  }
}

/**
 * The Node versions xent supports: `engines` in package.json says the same (a test holds them together). The LTS lines
 * with require(esm) unflagged; Node 20 is past its end of life (April 2026) and is kept, tested, for this minor only.
 */
export const SUPPORTED_NODE = '^20.19.0 || ^22.12.0 || >=24.0.0';

type Version = [number, number, number];

function parseVersion(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text.replace(/^v/, '').split('.').map((part) => Number.parseInt(part, 10));
  return [major, minor, patch];
}

const atLeast = (v: Version, w: Version) => v[0] !== w[0] ? v[0] > w[0] : v[1] !== w[1] ? v[1] > w[1] : v[2] >= w[2];

/** Whether `version` (as process.version spells it) is in SUPPORTED_NODE: each `^x.y.z` or `>=x.y.z` alternative. */
export function supportsNode(version: string): boolean {
  const v = parseVersion(version);
  return SUPPORTED_NODE.split('||').some((alternative) => {
    const range = alternative.trim();
    const floor = parseVersion(range.replace(/^(\^|>=)/, ''));
    return range.startsWith('^') ? v[0] === floor[0] && atLeast(v, floor) : atLeast(v, floor);
  });
}

/** What the process warns about the Node it runs on, once at start; null on a current, supported Node. */
export function nodeNotice(version: string): string | null {
  if (!supportsNode(version)) {
    return `Node ${version} is not supported (${SUPPORTED_NODE}): xent may fail on it; use Node 24, as the Docker image does`;
  }
  if (parseVersion(version)[0] === 20) {
    return `Node 20 reached its end of life in April 2026: xent runs and is tested on it in this release only; move to Node 24 (the Docker image's) or 22.12+`;
  }
  return null;
}
