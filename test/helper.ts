import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';

/** The app on the default config (2 workers, silent), with overrides; ready, not listening. Close it in afterAll. */
export async function buildTestApp(overrides: Partial<Config> = {}, options: AppOptions = {}): Promise<FastifyInstance> {
  const config = { ...loadConfig({}), workers: 2, ...overrides };
  const app = await buildApp(Object.freeze(config), { logger: false, ...options });
  await app.ready();
  return app;
}

/** POSTs a JSON body through app.inject and returns status, headers and the parsed body. */
export async function post(app: FastifyInstance, url: string, body: unknown) {
  const res = await app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: res.statusCode, headers: res.headers, body: res.json() as Record<string, unknown>, raw: res.body };
}
