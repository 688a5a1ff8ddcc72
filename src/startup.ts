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
