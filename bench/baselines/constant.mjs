// Baseline "constant": the floor for small bodies. A plain Fastify route that parses the same JSON body with
// Fastify's default parser (JSON.parse, on the event loop) and answers a constant of the same shape as /cost.
// Whatever xent does beyond this (validation, arithmetic, serialising real figures) is its own cost.
//
// PORT, HOST and BODY_LIMIT as for the service. Run: PORT=3001 node bench/baselines/constant.mjs

import process from 'node:process';
import Fastify from 'fastify';

const CONSTANT = {
  sum: 104.60813397426,
  cost: 3.2690041866957,
  count: 32,
  total_weight: 32,
  perplexity: 26.285806121554,
  accuracy: 0.125,
  unit: 'nats',
};

const app = Fastify({ logger: false, bodyLimit: Number(process.env.BODY_LIMIT ?? 64 * 1024 * 1024) });
app.get('/healthz', async () => ({ status: 'ok' }));
app.post('/cost', async () => CONSTANT);
app.post('/loss', async () => CONSTANT);

process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
await app.listen({ port: Number(process.env.PORT ?? 3001), host: process.env.HOST ?? '127.0.0.1' });
