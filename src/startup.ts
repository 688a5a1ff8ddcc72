import type { Config } from './config.js';

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
