import { createHash, timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { ProblemError } from '../codec/problems.js';
import { RateLimitKeys } from './rateLimitKey.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Marks a route that scores: it needs the API key, counts toward the rate limit and is refused under pressure. */
    scoring?: boolean;
  }
}

const isScoring = (request: FastifyRequest) => request.routeOptions.config?.scoring === true;

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The 401 for a request without a bearer key (`presented` false) or with a wrong one. */
export function unauthorized(presented: boolean): ProblemError {
  return ProblemError.of('XENT_UNAUTHORIZED', '', presented ? 'the API key is not valid' : 'send Authorization: Bearer <API key>', {
    'www-authenticate': 'Bearer realm="xent"',
  });
}

/** The 429 past RATE_LIMIT (`max` requests per `window`, as the rate-limit plugin words it: "1 minute"). */
export function rateLimited(max: number, window: string): ProblemError {
  return ProblemError.of('XENT_RATE_LIMITED', '', `more than ${max} scoring requests in ${window}; retry later`);
}

/**
 * Whether a presented key is one of the configured ones. Both sides are hashed to equal length and every key is
 * compared with timingSafeEqual, without stopping at a match, so the time taken says nothing about the keys.
 */
export function keyMatches(presented: string, keys: readonly Buffer[]): boolean {
  const candidate = digest(presented);
  let match = false;
  for (const key of keys) match = timingSafeEqual(candidate, key) || match;
  return match;
}

/**
 * The guards of the scoring routes (those whose route config says `scoring: true`): optional bearer-key auth,
 * optional per-client rate limit, and event-loop-pressure protection. Health, readiness, metrics and docs stay open.
 */
export async function registerGuards(app: FastifyInstance, config: Readonly<Config>): Promise<void> {
  const keys = config.apiKeys.map(digest);
  const rateLimitKeys = new RateLimitKeys(config.apiKeys);

  if (keys.length > 0) {
    app.addHook('onRequest', async (request) => {
      if (!isScoring(request)) return;
      const header = request.headers.authorization ?? '';
      const match = /^Bearer (.+)$/i.exec(header);
      if (match === null || !keyMatches(match[1]!, keys)) throw unauthorized(match !== null);
      rateLimitKeys.authenticated(request, match[1]!);
    });
  }

  if (config.rateLimit > 0) {
    await app.register(rateLimit, {
      global: true,
      max: config.rateLimit,
      timeWindow: config.rateLimitWindowMs,
      // A client is the API key it was authenticated with, else its address (see RateLimitKeys).
      keyGenerator: (request) => rateLimitKeys.bucketOf(request),
      allowList: (request) => !isScoring(request),
      errorResponseBuilder: (_request, context) => rateLimited(context.max, context.after),
    });
  }

  await app.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    // Only scoring is refused under pressure: the probes must keep answering so the orchestrator sees the truth.
    pressureHandler: (request, _reply, type, value) => {
      if (!isScoring(request)) return;
      throw ProblemError.of('XENT_OVERLOADED', '', `the service is under pressure (${type} ${Math.round(Number(value))}); retry later`, {
        'retry-after': '1',
      });
    },
  });
}
