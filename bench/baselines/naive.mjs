// Baseline "naive": what a user would write in an afternoon. Fastify's default JSON parser (JSON.parse of the whole
// body on the event loop), then cross-entropy inline with a plain two-pass log-sum-exp loop over the nested arrays.
// No pool, no typed arrays, minimal validation: the reference xent must beat on large bodies.
//
// PORT, HOST and BODY_LIMIT as for the service. Run: PORT=3002 node bench/baselines/naive.mjs

import process from 'node:process';
import Fastify from 'fastify';

function crossEntropy(logits, labels) {
  const losses = new Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const row = logits[i];
    let max = -Infinity;
    for (let j = 0; j < row.length; j++) if (row[j] > max) max = row[j];
    let s = 0;
    for (let j = 0; j < row.length; j++) s += Math.exp(row[j] - max);
    losses[i] = Math.log(s) + max - row[labels[i]];
    sum += losses[i];
  }
  return { losses, sum };
}

function score(request, reply, withLosses) {
  const { logits, labels } = request.body ?? {};
  if (!Array.isArray(logits) || !Array.isArray(labels) || logits.length !== labels.length || logits.length === 0) {
    return reply.code(400).send({ error: 'logits [N][C] and labels [N] expected' });
  }
  const { losses, sum } = crossEntropy(logits, labels);
  const n = labels.length;
  const cost = sum / n;
  const figures = { sum, cost, count: n, total_weight: n, perplexity: Math.exp(cost), unit: 'nats' };
  return withLosses ? { losses, ...figures } : figures;
}

const app = Fastify({ logger: false, bodyLimit: Number(process.env.BODY_LIMIT ?? 64 * 1024 * 1024) });
app.get('/healthz', async () => ({ status: 'ok' }));
app.post('/cost', async (request, reply) => score(request, reply, false));
app.post('/loss', async (request, reply) => score(request, reply, true));

process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
await app.listen({ port: Number(process.env.PORT ?? 3002), host: process.env.HOST ?? '127.0.0.1' });
