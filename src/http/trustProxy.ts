import type { FastifyServerOptions } from 'fastify';
import type { TrustProxy } from '../config.js';

/** Fastify's `trustProxy` for a TRUST_PROXY value; a hop count as the function proxy-addr makes of one (typed). */
export function fastifyTrustProxy(trust: TrustProxy): FastifyServerOptions['trustProxy'] {
  if (typeof trust !== 'number') return trust;
  return (_address: string, hop: number) => hop < trust;
}
