/**
 * The KServe manifests in deploy/kserve/, checked offline:
 *  - every document parses (duplicate keys are errors) and is a ServingRuntime or an InferenceService;
 *  - each validates against KServe v0.20's API (kserve-api.ts: the KServe fields transcribed, every core/v1 type
 *    inside checked by kubernetes-models) with no unknown field anywhere;
 *  - the runtime agrees with the image, the service's configuration and routes, and deploy/kubernetes/, and stays
 *    valid under Knative's rules too; the InferenceService agrees with the runtime.
 *
 * When a copy of KServe's released CRDs is at hand, the manifests are also validated against the CRDs' own
 * openAPIV3Schema, with the API server's pruning as the unknown-field check: set XENT_KSERVE_CRDS to the path of
 * kserve-crds.yaml (install/v0.20.0/kserve-crds.yaml in the kserve repository), or put it at
 * ../shared/schemas/kserve-crds.yaml beside the checkout. Without it those tests are skipped.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { checkKServe, checkStructural, crdSchemas } from './kserve-api.js';
import { type Manifest, type Obj, parseManifests, quantity, ROOT, servedPaths } from './manifests.js';

const DIR = path.join(ROOT, 'deploy/kserve');

function loadDir(dir: string): Manifest[] {
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  return files.flatMap((f) => parseManifests(readFileSync(path.join(dir, f), 'utf8'), f));
}

const manifests = loadDir(DIR);
const one = (list: Manifest[], kind: string): Obj => {
  const found = list.filter((m) => m.obj.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0]!.obj;
};
const runtime = one(manifests, 'ServingRuntime');
const isvc = one(manifests, 'InferenceService');
const kubernetes = loadDir(path.join(ROOT, 'deploy/kubernetes'));
const deployment = one(kubernetes, 'Deployment');
const hpa = one(kubernetes, 'HorizontalPodAutoscaler');

const c = runtime.spec.containers[0] as Obj;
const env = Object.fromEntries((c.env as Obj[]).filter((e) => 'value' in e).map((e) => [e.name as string, e.value as string]));
const port = c.ports[0] as Obj;
const paths = servedPaths();

/** Knative's reserved ports (queue-proxy and profiling) and the environment it sets on the user container. */
const KNATIVE_RESERVED_PORTS = [8008, 8012, 8013, 8022, 9090, 9091];
const KNATIVE_RESERVED_ENV = ['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'];
/** Kubernetes' default terminationGracePeriodSeconds; neither the runtime nor the InferenceService can set another in both modes. */
const DEFAULT_GRACE_S = 30;

describe('deploy/kserve manifests', () => {
  it('hold exactly a ServingRuntime and an InferenceService, both named xent', () => {
    expect(manifests.map((m) => `${m.obj.apiVersion}/${m.obj.kind}`).sort()).toEqual([
      'serving.kserve.io/v1alpha1/ServingRuntime',
      'serving.kserve.io/v1beta1/InferenceService',
    ]);
    for (const { obj } of manifests) expect(obj.metadata.name).toBe('xent');
  });

  it.each(manifests.map((m) => [`${m.file}: ${m.obj.kind}`, m] as const))('%s validates against KServe v0.20 with no unknown fields', (_, m) => {
    expect(checkKServe(m.obj)).toEqual([]);
  });

  describe('ServingRuntime', () => {
    it('serves a model format of its own, single-model, over the Open Inference Protocol v2 REST', () => {
      const formats = runtime.spec.supportedModelFormats as Obj[];
      expect(formats.map((f) => f.name)).toEqual(['xent']);
      expect(runtime.spec.protocolVersions).toEqual(['v2']);
      expect(runtime.spec.multiModel ?? false).toBe(false);
      expect(runtime.spec.disabled ?? false).toBe(false);
    });

    it('runs the image of the Kubernetes Deployment as kserve-container, with no command or args of its own', () => {
      expect(runtime.spec.containers).toHaveLength(1);
      expect(c.name).toBe('kserve-container'); // how KServe finds the model server
      expect(c.image).toMatch(/^[^:]+:(?!latest$)[\w.-]+$/);
      expect(c.image).toBe(deployment.spec.template.spec.containers[0].image);
      expect(c.command).toBeUndefined(); // the image's CMD, node dist/server.js
      expect(c.args).toBeUndefined();
    });

    it("listens on the image's port: the first containerPort is 3000 and PORT is left unset", () => {
      expect(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^EXPOSE 3000$/m);
      expect(port.containerPort).toBe(3000);
      // KServe's Service targets the first containerPort; Knative sets PORT to it; in Standard mode nothing sets
      // PORT and the service falls back to its default, which must be that port.
      expect(env.PORT).toBeUndefined();
      expect(loadConfig(env).port).toBe(port.containerPort);
    });

    it('probes paths the service serves, on the container port: liveness, then the protocol readiness', () => {
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe] as Obj[]) {
        expect(paths, probe.httpGet.path).toContain(probe.httpGet.path);
        expect([port.name, port.containerPort]).toContain(probe.httpGet.port);
      }
      expect(['/healthz', '/v2/health/live']).toContain(c.livenessProbe.httpGet.path);
      expect(['/healthz', '/v2/health/live']).toContain(c.startupProbe.httpGet.path);
      expect(c.readinessProbe.httpGet.path).toBe('/v2/health/ready');
      // Readiness reacts faster than liveness, so an overloaded pod is taken out before it is restarted.
      expect(c.readinessProbe.periodSeconds * c.readinessProbe.failureThreshold).toBeLessThan(
        c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold,
      );
    });

    it('requests and limits what the Deployment does, with the worker pool sized to the CPU limit', () => {
      const dc = deployment.spec.template.spec.containers[0] as Obj;
      expect(c.resources).toEqual(dc.resources);
      for (const r of ['cpu', 'memory']) expect(quantity(c.resources.requests[r])).toBeLessThanOrEqual(quantity(c.resources.limits[r]));
      expect(Number(env.WORKERS)).toBeGreaterThanOrEqual(1);
      expect(Number(env.WORKERS)).toBeLessThanOrEqual(Math.ceil(quantity(c.resources.limits.cpu)));
      const workerHeapBytes = Number(env.WORKERS) * Number(env.WORKER_MAX_MEMORY_MB) * 1e6;
      expect(workerHeapBytes).toBeLessThan(quantity(c.resources.limits.memory));
    });

    it('runs as uid 1000, non-root, read-only, without privileges, capabilities or an unconfined seccomp profile', () => {
      const sc = c.securityContext as Obj;
      expect(sc.runAsNonRoot).toBe(true);
      expect(sc.runAsUser).toBe(1000);
      expect(sc.runAsGroup).toBe(1000);
      expect(sc.readOnlyRootFilesystem).toBe(true);
      expect(sc.allowPrivilegeEscalation).toBe(false);
      expect(sc.privileged ?? false).toBe(false);
      expect(sc.capabilities.drop).toEqual(['ALL']);
      expect(sc.capabilities.add).toBeUndefined();
      expect(sc.seccompProfile.type).toBe('RuntimeDefault');
      const tmp = (c.volumeMounts as Obj[]).find((v) => v.mountPath === '/tmp');
      expect(tmp).toBeDefined();
      expect((runtime.spec.volumes as Obj[]).find((v) => v.name === tmp!.name)?.emptyDir).toBeDefined();
    });

    it('stays valid in Knative mode: no reserved variable or port, port named http1, no lifecycle hook', () => {
      for (const e of c.env as Obj[]) expect(KNATIVE_RESERVED_ENV).not.toContain(e.name);
      expect(['', 'http1', 'h2c']).toContain(port.name ?? '');
      expect(port.protocol ?? 'TCP').toBe('TCP');
      expect(KNATIVE_RESERVED_PORTS).not.toContain(port.containerPort);
      expect(c.lifecycle).toBeUndefined();
      // A named probe port must be the container port's own name.
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe] as Obj[]) {
        if (typeof probe.httpGet.port === 'string') expect(probe.httpGet.port).toBe(port.name);
      }
    });

    it('drains on SIGTERM (readiness 503, then in-flight requests) well inside the default grace period', () => {
      const drain = Number(env.SHUTDOWN_DRAIN_MS) / 1000;
      const shutdown = Number(env.SHUTDOWN_TIMEOUT_MS) / 1000;
      expect(drain).toBeGreaterThanOrEqual(3); // endpoints and proxies need a few seconds to converge
      expect(drain).toBeGreaterThanOrEqual(c.readinessProbe.periodSeconds); // at least one failed probe seen
      expect(shutdown).toBeGreaterThanOrEqual(5);
      expect(drain + shutdown + 5).toBeLessThanOrEqual(DEFAULT_GRACE_S);
      expect(isvc.spec.predictor.terminationGracePeriodSeconds).toBeUndefined();
    });

    it('sets only configuration the service reads, with values its config loader accepts', () => {
      const configSource = readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
      for (const e of c.env as Obj[]) expect(configSource, `${e.name} is read by src/config.ts`).toMatch(new RegExp(`\\b${e.name}\\b`));
      expect(() => loadConfig(env)).not.toThrow();
    });

    it('points Prometheus at the service\u2019s /metrics on the container port', () => {
      const a = runtime.spec.annotations as Record<string, string>;
      expect(readFileSync(path.join(ROOT, 'src/http/metrics.ts'), 'utf8')).toContain("'/metrics'");
      for (const key of ['prometheus.io', 'prometheus.kserve.io']) {
        expect(a[`${key}/port`]).toBe(String(port.containerPort));
        expect(a[`${key}/path`]).toBe('/metrics');
      }
    });
  });

  describe('InferenceService', () => {
    const predictor = isvc.spec.predictor as Obj;
    const model = predictor.model as Obj;

    it('names the runtime, a model format it supports and a protocol it speaks', () => {
      expect(model.runtime).toBe(runtime.metadata.name);
      const format = (runtime.spec.supportedModelFormats as Obj[]).find((f) => f.name === model.modelFormat.name);
      expect(format).toBeDefined();
      if (model.modelFormat.version !== undefined) expect(model.modelFormat.version).toBe(format!.version);
      expect(runtime.spec.protocolVersions).toContain(model.protocolVersion);
    });

    it('loads no model files: no storageUri, storage or storageUris, so KServe adds no storage initializer', () => {
      expect(model.storageUri).toBeUndefined();
      expect(model.storage).toBeUndefined();
      expect(predictor.storageUris).toBeUndefined();
    });

    it('leaves the container to the runtime: the model sets only which runtime, format and protocol', () => {
      expect(Object.keys(model).sort()).toEqual(['modelFormat', 'protocolVersion', 'runtime']);
    });

    it('scales like deploy/kubernetes/: Standard mode, an HPA on CPU with the same bounds and target', () => {
      expect(isvc.metadata.annotations['serving.kserve.io/deploymentMode']).toBe('Standard');
      expect(isvc.metadata.annotations['serving.kserve.io/autoscalerClass']).toBe('hpa');
      expect(predictor.scaleMetric).toBe('cpu');
      const cpu = (hpa.spec.metrics as Obj[]).find((m) => m.type === 'Resource' && m.resource.name === 'cpu');
      expect(predictor.scaleTarget).toBe(cpu?.resource.target.averageUtilization);
      expect(predictor.minReplicas).toBe(hpa.spec.minReplicas);
      expect(predictor.maxReplicas).toBe(hpa.spec.maxReplicas);
      expect(predictor.deploymentStrategy).toEqual(deployment.spec.strategy);
      expect(predictor.automountServiceAccountToken).toBe(false);
    });

    it('is reached at /v2/models/cross_entropy/infer, a route the service has, as the README says', () => {
      expect(paths).toContain('/v2/models/{model_name}/infer');
      expect(readFileSync(path.join(ROOT, 'openapi/openapi.json'), 'utf8')).toContain('cross_entropy');
      expect(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toContain('/v2/models/cross_entropy/infer');
    });
  });

  describe('the checks can fail', () => {
    const copy = (obj: Obj): Obj => structuredClone(obj);

    it('a typo in a core field of the runtime container is an unknown field', () => {
      const bad = copy(runtime);
      const probe = bad.spec.containers[0].readinessProbe;
      probe.periodSecond = probe.periodSeconds;
      delete probe.periodSeconds;
      expect(checkKServe(bad)).toEqual(['/spec/containers/0/readinessProbe/periodSecond: unknown field']);
    });

    it('a typo in a KServe field is an unknown field, at any level', () => {
      const bad = copy(runtime);
      bad.spec.supportedModelFormat = bad.spec.supportedModelFormats;
      bad.spec.supportedModelFormats[0].autoselect = true;
      bad.metadata.lables = {};
      expect(checkKServe(bad).sort()).toEqual([
        '/metadata/lables: unknown field',
        '/spec/supportedModelFormat: unknown field',
        '/spec/supportedModelFormats/0/autoselect: unknown field',
      ]);
    });

    it('typos in the pod spec a predictor inlines and the container a model inlines are unknown fields', () => {
      const bad = copy(isvc);
      bad.spec.predictor.automountServiceAccountTokens = false;
      bad.spec.predictor.model.resource = { limits: { cpu: '1' } };
      bad.spec.predictor.model.env = [{ name: 'WORKERS', valu: '1' }];
      expect(checkKServe(bad).sort()).toEqual([
        '/spec/predictor/automountServiceAccountTokens: unknown field',
        '/spec/predictor/model/env/0/valu: unknown field',
        '/spec/predictor/model/resource: unknown field',
      ]);
    });

    it('wrong types and values are rejected, in KServe fields and in core ones', () => {
      const badIsvc = copy(isvc);
      badIsvc.spec.predictor.minReplicas = 'two';
      badIsvc.spec.predictor.scaleMetric = 'gpu';
      badIsvc.spec.predictor.model.protocolVersion = 'v3';
      badIsvc.metadata.name = 'cross_entropy'; // not a DNS-1035 label
      const errors = checkKServe(badIsvc);
      for (const p of ['/spec/predictor/minReplicas', '/spec/predictor/scaleMetric', '/spec/predictor/model/protocolVersion', '/metadata/name']) {
        expect(errors.some((e) => e.startsWith(`${p}:`)), p).toBe(true);
      }
      const badRuntime = copy(runtime);
      badRuntime.spec.containers[0].ports[0].containerPort = 'three thousand';
      expect(checkKServe(badRuntime)).toEqual(['/spec/containers/0/ports/0/containerPort: must be integer (core/v1 Container)']);
      delete badRuntime.spec.containers;
      expect(checkKServe(badRuntime)).toEqual(["/spec: must have required property 'containers'"]);
    });

    it('a missing model format and an unsupported kind are rejected', () => {
      const bad = copy(isvc);
      delete bad.spec.predictor.model.modelFormat;
      expect(checkKServe(bad)).toEqual(["/spec/predictor/model: must have required property 'modelFormat'"]);
      expect(() => checkKServe({ apiVersion: 'serving.kserve.io/v1alpha1', kind: 'InferenceGraph' })).toThrow(/unsupported object/);
    });
  });

  const crdFile = process.env.XENT_KSERVE_CRDS ?? path.join(ROOT, '../shared/schemas/kserve-crds.yaml');
  describe.skipIf(!existsSync(crdFile))(`against KServe's released CRDs (${crdFile})`, () => {
    const schemas = existsSync(crdFile) ? crdSchemas(parseManifests(readFileSync(crdFile, 'utf8'), crdFile).map((m) => m.obj)) : new Map();
    const schemaOf = (obj: Obj) => {
      const [group, version] = String(obj.apiVersion).split('/');
      const s = schemas.get(`${group}/${version}/${obj.kind}`);
      expect(s, `${obj.apiVersion} ${obj.kind} is in the CRDs`).toBeDefined();
      return s!;
    };

    it.each(manifests.map((m) => [`${m.file}: ${m.obj.kind}`, m] as const))('%s validates, and nothing in it would be pruned', (_, m) => {
      expect(checkStructural(schemaOf(m.obj), m.obj)).toEqual([]);
    });

    it('the typos the transcription catches are caught there too', () => {
      const bad = structuredClone(isvc);
      bad.spec.predictor.automountServiceAccountTokens = false;
      bad.spec.predictor.model.resource = {};
      expect(checkStructural(schemaOf(bad), bad).sort()).toEqual([
        '/spec/predictor/automountServiceAccountTokens: unknown field',
        '/spec/predictor/model/resource: unknown field',
      ]);
    });
  });
});
