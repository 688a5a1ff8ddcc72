import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import { registerDocs } from './http/docs.js';
import { parseJsonBody, RawJsonBody } from './http/jsonBody.js';
import { handleError, handleNotFound } from './http/errorHandler.js';
import { healthRoutes } from './http/routes/health.js';
import { inferenceRoutes } from './http/routes/inference.js';
import { scoreRoutes } from './http/routes/score.js';
import { evaluate } from './kernel/evaluate.js';
import type { ScoreTask } from './kernel/types.js';
import { ScorePool } from './pool/scorePool.js';

export interface AppOptions {
  /** Fastify's logger option; defaults to pino at the configured level. */
  logger?: FastifyServerOptions['logger'];
}

/**
 * Builds the service: plugins and routes registered explicitly, the worker pool started and checked. Never listens;
 * `server.ts` does that. `app.close()` drains requests and closes the pool.
 */
export async function buildApp(config: Readonly<Config>, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    requestIdHeader: 'x-request-id',
    return503OnClosing: true,
  });

  // Route schemas feed the OpenAPI document; validation is zod's and the tensor reader's (see http/decode.ts),
  // and replies are plain JSON.stringify, which writes every float64 in its shortest round-trip form.
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.removeAllContentTypeParsers(); // only JSON here; the inference routes add their binary form
  // Large bodies stay raw bytes: a worker parses, validates and scores them, so the event loop only moves buffers.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length > config.inlineMaxBytes) {
      done(null, new RawJsonBody(bytes));
      return;
    }
    try {
      done(null, parseJsonBody(bytes.toString('utf8')));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler(handleError);
  app.setNotFoundHandler(handleNotFound);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const pool = new ScorePool({ workers: config.workers, maxQueue: config.maxQueue });
  let warmedUp = false;
  let closing = false;
  app.addHook('onReady', async () => {
    const check = await pool.run(warmUpTask());
    const expected = evaluate(warmUpTask());
    if (check.status !== 'ok' || expected.status !== 'ok' || check.summary.sum !== expected.summary.sum) {
      throw new Error('the worker pool gave a wrong answer to the warm-up task');
    }
    warmedUp = true;
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    await pool.close();
  });

  await registerDocs(app);
  const readiness = {
    notReadyBecause: () => (closing ? 'shutting down' : warmedUp ? null : 'the worker pool is starting'),
  };
  await app.register(healthRoutes, { readiness });
  await app.register(scoreRoutes, { config, pool });
  await app.register(inferenceRoutes, { config, pool, readiness });
  return app;
}

/** A tiny batch whose answer the pool must reproduce bit for bit before the service reports ready. */
function warmUpTask(): ScoreTask {
  return {
    kind: 'logits',
    rows: 2,
    classes: 3,
    input: new Float64Array([2, 1, 0.1, 0.5, 2.5, 0.3]),
    labels: new Float64Array([0, 1]),
    targets: null,
    classWeights: null,
    ignoreIndex: -100,
    labelSmoothing: 0,
    epsilon: 0,
    unit: 'nats',
  };
}
