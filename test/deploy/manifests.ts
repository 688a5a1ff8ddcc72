/**
 * What the deploy tests share: reading YAML manifests strictly, the unknown-field check over kubernetes-models'
 * validators, and Kubernetes quantities.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>;

export interface Manifest {
  file: string;
  obj: Obj;
}

/** Every non-empty document of a YAML file; duplicate keys and syntax errors throw, naming the file. */
export function parseManifests(text: string, file: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true })) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj: unknown = doc.toJS();
    if (obj === null || obj === undefined) continue; // an empty document (e.g. a trailing `---`)
    if (typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`${file}: a document is not a mapping`);
    out.push({ file, obj: obj as Obj });
  }
  return out;
}

export interface StrictResult {
  schemaError: string | null;
  unknown: string[];
}

/**
 * Runs a kubernetes-models validator (`validate`, called with the data as `this`) while recording which keys it
 * reads on every object it visits. A generated validator reads each property its schema declares (to check the
 * ones present), so a key present in the data but never read is unknown to the schema. Objects whose keys the
 * validator enumerates are maps (labels, annotations, resource lists): any key is allowed. Returns the schema error
 * (or null) and the unknown fields as JSON-pointer-like paths under `at`.
 */
export function strictCheck(validate: (this: unknown) => void, obj: unknown, at = ''): StrictResult {
  const visited = new Map<object, { path: string; read: Set<string>; enumerated: boolean }>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown, where: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const cached = proxies.get(value);
    if (cached !== undefined) return cached;
    const info = { path: where, read: new Set<string>(), enumerated: false };
    visited.set(value, info);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const v: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== 'string') return v;
        info.read.add(key);
        return Object.hasOwn(target, key) ? wrap(v, `${where}/${key}`) : v;
      },
      has(target, key) {
        if (typeof key === 'string') info.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        info.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  let schemaError: string | null = null;
  try {
    validate.call(wrap(obj, at));
  } catch (err) {
    schemaError = err instanceof Error ? err.message : String(err);
  }
  const unknown: string[] = [];
  for (const [value, info] of visited) {
    if (Array.isArray(value) || info.enumerated) continue;
    for (const key of Object.keys(value)) if (!info.read.has(key)) unknown.push(`${info.path}/${key}`);
  }
  return { schemaError, unknown };
}

/** A Kubernetes quantity ("500m", "2", "256Mi", "1Gi") as a plain number. */
export function quantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (m === null) throw new Error(`unparsable quantity ${q}`);
  const scale: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * (m[2] === undefined ? 1 : scale[m[2]]!);
}

export function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The service's HTTP paths, from the exported OpenAPI document (test/http/openapi.test.ts keeps it equal to the routes). */
export function servedPaths(): Set<string> {
  const doc = JSON.parse(readFileSync(path.join(ROOT, 'openapi/openapi.json'), 'utf8')) as { paths: Record<string, unknown> };
  return new Set(Object.keys(doc.paths));
}
