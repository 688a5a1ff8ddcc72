/**
 * JSON schemas for the two KServe objects xent ships, ServingRuntime (serving.kserve.io/v1alpha1) and
 * InferenceService (serving.kserve.io/v1beta1), as of KServe v0.20.0, and a validator for them that works offline.
 *
 * No npm package carries KServe's CRD schemas (there is no @kubernetes-models/kserve), so the KServe-specific part is
 * transcribed here by hand from KServe v0.20.0's API types (pkg/apis/serving/v1alpha1/servingruntime_types.go,
 * pkg/apis/serving/v1beta1/{predictor,predictor_model,component}.go) and its generated CRDs, and every core/v1 type
 * inside it (containers, volumes, tolerations, affinity, the pod spec a predictor inlines, the container a model
 * inlines) is checked by kubernetes-models, the same validators as test/deploy/kubernetes.test.ts uses. Two keywords
 * join them:
 *   - `x-kubernetes-model: <Type>`: the value is that core type;
 *   - `x-kubernetes-inline: <Type>`: the properties this schema does not list belong to that core type, inlined (Go's
 *     `json:",inline"`), as PredictorSpec inlines a PodSpec and ModelSpec a Container.
 * Unknown fields fail at every level: `additionalProperties: false` here, strictCheck inside the core types. A KServe
 * field that is valid but not transcribed below (a framework predictor, workerSpec, logger, batcher, transformer, ...)
 * fails as unknown too: add it here when a manifest needs it.
 *
 * Where KServe's own validation is tighter than its CRD (protocol versions it knows, an InferenceService name that is
 * a DNS-1035 label, at least one container), the schema follows the validation and says so.
 *
 * checkStructural() validates against a CRD's own openAPIV3Schema instead (used when a copy of KServe's released
 * kserve-crds.yaml is supplied, see kserve.test.ts), with the API server's pruning rule as the unknown-field check.
 */
import { Ajv, type ErrorObject, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import { DeploymentStrategy } from 'kubernetes-models/apps/v1';
import { Affinity, Container, LocalObjectReference, PodSpec, Toleration, Volume } from 'kubernetes-models/v1';
import { type Obj, strictCheck } from './manifests.js';

interface CoreModel {
  prototype: { validate(this: unknown): void };
}

/** The core types the schemas may name, with the required fields an inlined copy may leave out. */
const CORE: Readonly<Record<string, { model: CoreModel; inlineDefaults?: Obj }>> = {
  Affinity: { model: Affinity as unknown as CoreModel },
  Container: { model: Container as unknown as CoreModel, inlineDefaults: { name: 'kserve-container' } },
  DeploymentStrategy: { model: DeploymentStrategy as unknown as CoreModel },
  LocalObjectReference: { model: LocalObjectReference as unknown as CoreModel },
  PodSpec: { model: PodSpec as unknown as CoreModel, inlineDefaults: { containers: [] } },
  Toleration: { model: Toleration as unknown as CoreModel },
  Volume: { model: Volume as unknown as CoreModel },
};

type Schema = Record<string, unknown>;
const str: Schema = { type: 'string' };
const bool: Schema = { type: 'boolean' };
const int32: Schema = { type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 };
const int64: Schema = { type: 'integer' };
const stringMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const listOf = (items: Schema): Schema => ({ type: 'array', items });
const core = (type: keyof typeof CORE): Schema => ({ type: 'object', 'x-kubernetes-model': type });
const closed = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

/** The protocols KServe knows (pkg/constants: ProtocolV1, ProtocolV2, ProtocolGRPCV1, ProtocolGRPCV2); the CRD says string. */
const protocolVersion: Schema = { enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] };

/** The ObjectMeta fields a manifest sets; the API server fills in the rest. */
const metadata = (name: Schema): Schema =>
  closed({ name, namespace: str, labels: stringMap, annotations: stringMap, generateName: str }, ['name']);

/** A DNS-1123 label (RFC 1123), what Kubernetes asks of most object names. */
const dns1123Label: Schema = { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };

export const servingRuntimeSchema: Schema = closed(
  {
    apiVersion: { const: 'serving.kserve.io/v1alpha1' },
    kind: { const: 'ServingRuntime' },
    metadata: metadata(dns1123Label),
    spec: closed(
      {
        supportedModelFormats: listOf(closed({ name: str, version: str, autoSelect: bool, priority: { ...int32, minimum: 1 } }, ['name'])),
        protocolVersions: listOf(protocolVersion),
        multiModel: bool,
        disabled: bool,
        replicas: { type: 'integer', minimum: 0 },
        grpcEndpoint: str,
        grpcDataEndpoint: str,
        httpDataEndpoint: str,
        // ServingRuntimePodSpec, inlined.
        containers: { ...listOf(core('Container')), minItems: 1 }, // the controller refuses a runtime without one
        volumes: listOf(core('Volume')),
        nodeSelector: stringMap,
        affinity: core('Affinity'),
        tolerations: listOf(core('Toleration')),
        labels: stringMap,
        annotations: stringMap,
        imagePullSecrets: listOf(core('LocalObjectReference')),
        schedulerName: str,
        hostIPC: bool,
      },
      ['containers'],
    ),
  },
  ['apiVersion', 'kind', 'metadata', 'spec'],
);

/** ModelSpec: the KServe fields, then a core Container inlined (its name optional). */
const modelSpec: Schema = {
  type: 'object',
  properties: {
    modelFormat: closed({ name: str, version: str }, ['name']),
    runtime: str,
    runtimeVersion: str,
    protocolVersion,
    storageUri: str,
  },
  required: ['modelFormat'],
  'x-kubernetes-inline': 'Container',
};

/** PredictorSpec: `model`, ComponentExtensionSpec, then a core PodSpec inlined (its containers optional). */
const predictorSpec: Schema = {
  type: 'object',
  properties: {
    name: { type: 'string', pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$' },
    model: modelSpec,
    storageContainerName: str,
    // ComponentExtensionSpec
    minReplicas: { ...int32, minimum: 0 },
    maxReplicas: { ...int32, minimum: 0 },
    scaleTarget: int32,
    scaleMetric: { enum: ['cpu', 'memory', 'concurrency', 'rps'] },
    scaleMetricType: { enum: ['Utilization', 'Value', 'AverageValue'] },
    containerConcurrency: int64,
    timeout: int64,
    canaryTrafficPercent: int64,
    labels: stringMap,
    annotations: stringMap,
    deploymentStrategy: core('DeploymentStrategy'),
  },
  'x-kubernetes-inline': 'PodSpec',
};

export const inferenceServiceSchema: Schema = closed(
  {
    apiVersion: { const: 'serving.kserve.io/v1beta1' },
    kind: { const: 'InferenceService' },
    // KServe's webhook: the name is a DNS-1035 label (IsvcNameFmt).
    metadata: metadata({ type: 'string', maxLength: 63, pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$' }),
    spec: closed({ predictor: predictorSpec }, ['predictor']),
  },
  ['apiVersion', 'kind', 'metadata', 'spec'],
);

const SCHEMAS: ReadonlyMap<string, Schema> = new Map([
  ['serving.kserve.io/v1alpha1/ServingRuntime', servingRuntimeSchema],
  ['serving.kserve.io/v1beta1/InferenceService', inferenceServiceSchema],
]);

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Runs a core type's validator with the unknown-field check, as ajv errors under `at`. */
function coreErrors(type: string, data: Obj, at: string): Partial<ErrorObject>[] {
  const entry = CORE[type];
  if (entry === undefined) throw new Error(`unknown core type ${type} in a schema`);
  const out: Partial<ErrorObject>[] = [];
  try {
    entry.model.prototype.validate.call(data);
  } catch (err) {
    const nested = (err as { errors?: ErrorObject[] }).errors;
    if (!Array.isArray(nested)) throw err;
    for (const e of nested) out.push({ instancePath: at + e.instancePath, message: `${e.message ?? 'invalid'} (core/v1 ${type})` });
  }
  for (const p of strictCheck(entry.model.prototype.validate, data, at).unknown) out.push({ instancePath: p, message: 'unknown field' });
  return out;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true });
  const model: SchemaValidateFunction = (type: string, data: unknown, _parent, cxt) => {
    if (!isObject(data)) return true; // the sibling `type: object` reports it
    model.errors = coreErrors(type, data, cxt?.instancePath ?? '');
    return model.errors.length === 0;
  };
  const inline: SchemaValidateFunction = (type: string, data: unknown, parent, cxt) => {
    if (!isObject(data)) return true;
    const own = new Set(Object.keys((parent as { properties?: Schema }).properties ?? {}));
    const rest = Object.fromEntries(Object.entries(data).filter(([k]) => !own.has(k)));
    inline.errors = coreErrors(type, { ...CORE[type]?.inlineDefaults, ...rest }, cxt?.instancePath ?? '');
    return inline.errors.length === 0;
  };
  ajv.addKeyword({ keyword: 'x-kubernetes-model', schemaType: 'string', errors: true, validate: model });
  ajv.addKeyword({ keyword: 'x-kubernetes-inline', schemaType: 'string', errors: true, validate: inline });
  return ajv;
}

const ajv = newAjv();
const validators = new Map([...SCHEMAS].map(([k, s]) => [k, ajv.compile(s)]));

/** One line per ajv error: `/json/pointer: message`, an extra property as `/json/pointer/name: unknown field`. */
export function formatErrors(errors: readonly Partial<ErrorObject>[] | null | undefined): string[] {
  return (errors ?? []).map((e) =>
    e.keyword === 'additionalProperties'
      ? `${e.instancePath ?? ''}/${String((e.params as { additionalProperty: string }).additionalProperty)}: unknown field`
      : `${e.instancePath ?? ''}: ${e.message ?? 'invalid'}`,
  );
}

/** Validates a KServe object against the schema for its apiVersion and kind; [] when it is valid. */
export function checkKServe(obj: Obj): string[] {
  const validate = validators.get(`${obj.apiVersion}/${obj.kind}`);
  if (validate === undefined) throw new Error(`unsupported object ${obj.apiVersion}/${obj.kind}: add its schema to kserve-api.ts`);
  return validate(obj) ? [] : formatErrors(validate.errors);
}

// --- a CRD's own schema --------------------------------------------------------------------------------------------

/** The openAPIV3Schema of each served version in a set of CRDs, by `group/version/kind`. */
export function crdSchemas(crds: readonly Obj[]): Map<string, Schema> {
  const out = new Map<string, Schema>();
  for (const crd of crds) {
    if (crd.kind !== 'CustomResourceDefinition') continue;
    for (const v of crd.spec.versions as Obj[]) {
      if (v.served) out.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, v.schema.openAPIV3Schema as Schema);
    }
  }
  return out;
}

/**
 * Fields the API server would prune: those a structural schema neither lists under `properties` nor admits through
 * `additionalProperties` or `x-kubernetes-preserve-unknown-fields`.
 */
export function prunedFields(schema: Obj, data: unknown, at = ''): string[] {
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) return [];
  if (Array.isArray(data)) return isObject(schema.items) ? data.flatMap((v, i) => prunedFields(schema.items, v, `${at}/${i}`)) : [];
  if (!isObject(data)) return [];
  const props = (schema.properties ?? {}) as Obj;
  const extra = isObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
  // The root's metadata is `type: object` alone: the API server checks ObjectMeta itself.
  if (schema.properties === undefined && extra === undefined) return [];
  return Object.entries(data).flatMap(([k, v]) => {
    const sub = (Object.hasOwn(props, k) ? props[k] : extra) as Obj | undefined;
    return sub === undefined ? [`${at}/${k}: unknown field`] : prunedFields(sub, v, `${at}/${k}`);
  });
}

const structural = new WeakMap<Schema, ValidateFunction>();

/** Validates against a structural CRD schema (OpenAPI v3 subset, x-kubernetes-* annotations ignored) plus pruning. */
export function checkStructural(schema: Schema, obj: Obj): string[] {
  let validate = structural.get(schema);
  if (validate === undefined) {
    validate = new Ajv({ allErrors: true, strict: false, validateFormats: false }).compile(schema);
    structural.set(schema, validate);
  }
  return [...(validate(obj) ? [] : formatErrors(validate.errors)), ...prunedFields(schema, obj)];
}
