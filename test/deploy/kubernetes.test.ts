/**
 * The Kubernetes manifests in deploy/kubernetes/, checked offline:
 *  - every document parses (duplicate keys are errors) and is one of the kinds we ship;
 *  - each object validates against the Kubernetes OpenAPI schema (kubernetes-models v4);
 *  - no unknown fields anywhere: the schema validators accept them silently, so a typo such as
 *    `periodSecond` would pass them and be dropped by the API server; the strict check below catches it;
 *  - the objects agree with each other, with the image and with the service's own configuration.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import { loadConfig } from '../../src/config.js';
import { matches, type Manifest, type Obj, parseManifests, quantity, ROOT, strictCheck, type StrictResult } from './manifests.js';

const DIR = path.join(ROOT, 'deploy/kubernetes');

interface ModelClass {
  apiVersion: string;
  kind: string;
  prototype: { validate(this: unknown): void };
}

/** The kinds this folder may hold, by `apiVersion/kind`. */
const MODELS: ReadonlyMap<string, ModelClass> = new Map(
  ([Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget] as unknown as ModelClass[]).map((m) => [`${m.apiVersion}/${m.kind}`, m]),
);

function loadAll(): Manifest[] {
  const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
  return files.flatMap((f) => parseManifests(readFileSync(path.join(DIR, f), 'utf8'), f));
}

function modelFor(obj: Obj): ModelClass {
  const model = MODELS.get(`${obj.apiVersion}/${obj.kind}`);
  if (model === undefined) throw new Error(`unsupported object ${obj.apiVersion}/${obj.kind}: add its model to this test`);
  return model;
}

/**
 * Validates `obj` with its model's schema and reports fields unknown to it (see strictCheck): the validators
 * accept unknown fields silently, and the API server would drop them.
 */
function strictValidate(obj: Obj): StrictResult {
  return strictCheck(modelFor(obj).prototype.validate, obj);
}

const manifests = loadAll();
const byKind = (kind: string): Obj => {
  const found = manifests.filter((m) => m.obj.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0]!.obj;
};

describe('deploy/kubernetes manifests', () => {
  it('hold exactly a Deployment, a Service, a HorizontalPodAutoscaler and a PodDisruptionBudget', () => {
    expect(manifests.map((m) => `${m.obj.apiVersion}/${m.obj.kind}`).sort()).toEqual([
      'apps/v1/Deployment',
      'autoscaling/v2/HorizontalPodAutoscaler',
      'policy/v1/PodDisruptionBudget',
      'v1/Service',
    ]);
    for (const { obj } of manifests) expect(obj.metadata?.name).toBe('xent');
  });

  it.each(manifests.map((m) => [`${m.file}: ${m.obj.kind}`, m] as const))('%s validates against the Kubernetes schema', (_, m) => {
    const Model = modelFor(m.obj) as unknown as new (data: unknown) => { validate(): void };
    expect(() => new Model(m.obj).validate()).not.toThrow();
  });

  it.each(manifests.map((m) => [`${m.file}: ${m.obj.kind}`, m] as const))('%s has no unknown fields', (_, m) => {
    expect(strictValidate(m.obj)).toEqual({ schemaError: null, unknown: [] });
  });

  describe('Deployment', () => {
    const dep = byKind('Deployment');
    const pod = dep.spec.template.spec as Obj;
    const containers = pod.containers as Obj[];
    const c = containers[0]!;
    const env = Object.fromEntries((c.env as Obj[]).filter((e) => 'value' in e).map((e) => [e.name as string, e.value as string]));
    const portNamed = (p: string | number): Obj | undefined =>
      (c.ports as Obj[]).find((cp) => cp.name === p || cp.containerPort === p);

    it('selects its own pods and leaves the replica count to the HPA', () => {
      expect(matches(dep.spec.selector.matchLabels, dep.spec.template.metadata.labels)).toBe(true);
      expect(dep.spec.replicas).toBeUndefined();
      expect(dep.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    });

    it('runs one container on the port the image exposes, as configured by env', () => {
      expect(containers).toHaveLength(1);
      expect(c.image).toMatch(/^[^:]+:(?!latest$)[\w.-]+$/);
      expect(portNamed('http')?.containerPort).toBe(3000);
      expect(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^EXPOSE 3000$/m);
      expect(Number(env.PORT)).toBe(portNamed('http')?.containerPort);
      expect(dep.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(portNamed('http')?.containerPort));
    });

    it('probes /healthz for liveness and /readyz for readiness on the service port', () => {
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.startupProbe.httpGet.path).toBe('/healthz');
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(portNamed(probe.httpGet.port)).toBeDefined();
      // Readiness reacts faster than liveness, so an overloaded pod is taken out before it is restarted.
      expect(c.readinessProbe.periodSeconds * c.readinessProbe.failureThreshold).toBeLessThan(
        c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold,
      );
    });

    it('requests and limits CPU and memory, and sizes the worker pool to the CPU limit', () => {
      for (const r of ['cpu', 'memory']) {
        expect(c.resources.requests[r], `requests.${r}`).toBeDefined();
        expect(c.resources.limits[r], `limits.${r}`).toBeDefined();
        expect(quantity(c.resources.requests[r])).toBeLessThanOrEqual(quantity(c.resources.limits[r]));
      }
      expect(Number(env.WORKERS)).toBeGreaterThanOrEqual(1);
      expect(Number(env.WORKERS)).toBeLessThanOrEqual(Math.ceil(quantity(c.resources.limits.cpu)));
    });

    it('runs as uid 1000, non-root, read-only, without privileges or capabilities', () => {
      const sc = { ...pod.securityContext, ...c.securityContext } as Obj;
      expect(sc.runAsNonRoot).toBe(true);
      expect(sc.runAsUser).toBe(1000);
      expect(sc.runAsGroup).toBe(1000);
      expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
      expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
      expect(c.securityContext.capabilities.drop).toEqual(['ALL']);
      expect(c.securityContext.capabilities.add).toBeUndefined();
      expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
      expect(pod.automountServiceAccountToken).toBe(false);
      const tmp = (c.volumeMounts as Obj[]).find((v) => v.mountPath === '/tmp');
      expect(tmp).toBeDefined();
      expect((pod.volumes as Obj[]).find((v) => v.name === tmp!.name)?.emptyDir).toBeDefined();
    });

    it('gives the graceful shutdown (preStop drain + SHUTDOWN_TIMEOUT_MS) room before SIGKILL', () => {
      const command = c.lifecycle.preStop.exec.command as string[];
      expect(command[0]).toBe('sleep');
      const drain = Number(command[1]);
      const shutdown = Number(env.SHUTDOWN_TIMEOUT_MS) / 1000;
      expect(drain).toBeGreaterThanOrEqual(3); // endpoints and kube-proxy need a few seconds to converge
      expect(shutdown).toBeGreaterThanOrEqual(5);
      expect(shutdown).toBeLessThanOrEqual(20);
      // The grace period counts from the start of preStop; keep >= 5 s of margin after the bound.
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(drain + shutdown + 5);
      // ...but not so much that a stuck pod lingers for minutes.
      expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(60);
    });

    it('sets only configuration the service reads, with values its config loader accepts', () => {
      const configSource = readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
      for (const e of c.env as Obj[]) expect(configSource, `${e.name} is read by src/config.ts`).toMatch(new RegExp(`\\b${e.name}\\b`));
      expect(() => loadConfig(env)).not.toThrow();
      expect(loadConfig(env).port).toBe(3000);
    });
  });

  describe('Service, HPA and PDB', () => {
    const dep = byKind('Deployment');
    const podLabels = dep.spec.template.metadata.labels as Record<string, string>;
    const c = dep.spec.template.spec.containers[0] as Obj;

    it('the Service selects the pods and targets the named container port', () => {
      const svc = byKind('Service');
      expect(matches(svc.spec.selector, podLabels)).toBe(true);
      for (const p of svc.spec.ports as Obj[]) expect((c.ports as Obj[]).some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort)).toBe(true);
    });

    it('the HPA scales the Deployment on CPU between at least 2 replicas and a higher maximum', () => {
      const hpa = byKind('HorizontalPodAutoscaler');
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: dep.apiVersion, kind: dep.kind, name: dep.metadata.name });
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
      const cpu = (hpa.spec.metrics as Obj[]).find((m) => m.type === 'Resource' && m.resource.name === 'cpu');
      expect(cpu?.resource.target.type).toBe('Utilization');
      expect(cpu?.resource.target.averageUtilization).toBeGreaterThan(0);
      expect(c.resources.requests.cpu).toBeDefined(); // utilisation is measured against the request
    });

    it('the PDB covers the pods and still lets a drain evict one at the HPA minimum', () => {
      const pdb = byKind('PodDisruptionBudget');
      const hpa = byKind('HorizontalPodAutoscaler');
      expect(matches(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
      const disruptable = pdb.spec.maxUnavailable ?? hpa.spec.minReplicas - pdb.spec.minAvailable;
      expect(disruptable).toBeGreaterThanOrEqual(1);
      expect(disruptable).toBeLessThan(hpa.spec.minReplicas);
    });
  });

  describe('the checks can fail', () => {
    const deployment = (): Obj => structuredClone(byKind('Deployment'));

    it('a typo in a nested field passes the schema validator but not the strict check', () => {
      const bad = deployment();
      const c = bad.spec.template.spec.containers[0];
      c.readinessProbe.periodSecond = c.readinessProbe.periodSeconds; // typo: periodSecond(s)
      delete c.readinessProbe.periodSeconds;
      bad.spec.template.spec.containers[0].securityContex = { runAsUser: 0 }; // typo: securityContex(t)
      expect(() => new Deployment(bad).validate()).not.toThrow(); // why the strict check exists
      expect(strictValidate(bad)).toEqual({
        schemaError: null,
        unknown: expect.arrayContaining(['/spec/template/spec/containers/0/readinessProbe/periodSecond', '/spec/template/spec/containers/0/securityContex']),
      });
      expect(strictValidate(bad).unknown).toHaveLength(2);
    });

    it('an unknown field in YAML text is caught end to end; labels and resources stay free-form maps', () => {
      const yaml = [
        'apiVersion: v1',
        'kind: Service',
        'metadata: {name: xent, labels: {any-label: ok}}',
        'spec:',
        '  selector: {app.kubernetes.io/name: xent}',
        '  ports: [{name: http, port: 80, targetPorts: http}]',
      ].join('\n');
      const [m] = parseManifests(yaml, 'inline.yaml');
      expect(strictValidate(m!.obj).unknown).toEqual(['/spec/ports/0/targetPorts']);
    });

    it('a schema violation is rejected', () => {
      const bad = deployment();
      bad.spec.template.spec.containers[0].ports[0].containerPort = 'three thousand';
      expect(() => new Deployment(bad).validate()).toThrow(/containerPort/);
      expect(strictValidate(bad).schemaError).toMatch(/containerPort/);
    });

    it('duplicate keys and unsupported kinds are rejected', () => {
      expect(() => parseManifests('apiVersion: v1\nkind: Service\nkind: Pod\n', 'dup.yaml')).toThrow(/dup\.yaml/);
      expect(() => strictValidate({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow(/unsupported object v1\/Pod/);
    });
  });
});
