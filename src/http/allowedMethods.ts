import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ProblemError } from '../codec/problems.js';
import { cut } from '../codec/text.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The methods some route takes at `path` (a concrete path, no query), sorted; empty when no route has it. */
    allowedMethods(path: string): string[];
  }
}

/** A route pattern as a regular expression: `:param` is one segment, `*` anything; a trailing slash is optional. */
function patternOf(url: string): RegExp {
  const source = url
    .replace(/\/$/, '')
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}/?$`);
}

/**
 * Records every route's pattern and methods as it is added (register before the routes), so that a request the router
 * did not match can be told apart: a path no route has (404) from a path whose routes take other methods (405 with
 * `Allow`, RFC 9110 §15.5.6). Only the not-found handlers ask, so this costs nothing on routed requests.
 */
export function registerAllowedMethods(app: FastifyInstance): void {
  const routes: { pattern: RegExp; method: string }[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ pattern: patternOf(route.url), method });
  });
  app.decorate('allowedMethods', (path: string): string[] =>
    [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort(),
  );
}

/** The 405 for a request whose path has routes for other methods only, with their `Allow`; null for a 404. */
export function methodNotAllowed(request: FastifyRequest): ProblemError | null {
  const path = request.url.split('?')[0]!;
  const allowed = request.server.allowedMethods(path);
  if (allowed.length === 0) return null;
  return ProblemError.of(
    'XENT_METHOD_NOT_ALLOWED',
    '',
    `${cut(path)} takes ${allowed.filter((m) => m !== 'HEAD').join(' or ')}, not ${request.method}`,
    { allow: allowed.join(', ') },
  );
}
