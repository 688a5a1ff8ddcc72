import type { DestinationStream } from 'pino';

/** The fields of the one line per request (http/requestLog.ts), folded into its message on a terminal. */
const REQUEST_FIELDS = ['reqId', 'method', 'url', 'route', 'status', 'responseTime', 'remoteAddress', 'code'];

/**
 * Where the logs go. On a terminal, readable lines: pino-pretty, loaded only then, and only if installed. It is a
 * development dependency on purpose: `npm install && npm start` has it, the image (`npm prune --omit=dev`) does not,
 * so containers log pino's JSON lines whether or not they have a TTY, and nothing of it is loaded off a terminal.
 * Off a terminal (containers, pipes, files, log collectors) the answer is undefined: pino's JSON on stdout, as ever.
 * Synchronous, so lines keep their order with the process's own writes to stderr.
 */
export async function logDestination(stdout: { isTTY?: boolean } = process.stdout): Promise<DestinationStream | undefined> {
  if (stdout.isTTY !== true) return undefined;
  let pretty: typeof import('pino-pretty');
  try {
    pretty = (await import('pino-pretty')).default;
  } catch {
    return undefined;
  }
  return pretty({
    colorize: true,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: ['pid', 'hostname', ...REQUEST_FIELDS].join(','),
    singleLine: true,
    messageFormat: (log, messageKey) => {
      const id = typeof log.reqId === 'string' ? ` (${log.reqId})` : '';
      const code = typeof log.code === 'string' ? ` ${log.code}` : '';
      if (typeof log.status === 'number') return `${String(log.method)} ${String(log.url)} ${log.status}${code} ${String(log.responseTime)} ms${id}`;
      return `${String(log[messageKey])}${code}${id}`;
    },
  });
}
