import { MODEL_NAME } from '../codec/oip/model.js';
import { floatTensor, labelTensor, readFloats, type FloatData, type LabelData, type WireTensor } from './tensors.js';

/** An answer other than 2xx: the service's stable `code` (XENT_…), the HTTP status and its message. */
export class XentError extends Error {
  override name = 'XentError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface XentClientOptions {
  /** A key of the service's API_KEYS, sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global one, Node ≥ 18 and browsers). */
  fetch?: typeof fetch;
}

/**
 * One batch to score. The model output is `logits` or `probabilities`, flat and row-major, of `shape` ([N, C],
 * [N, T, C], …, the class dimension last unless the `class_dim` parameter says otherwise); the truth is `labels` (the
 * shape without the class dimension) or `targets` (the shape). Typed arrays travel as they are: Float32Array as FP32,
 * Float64Array as FP64, `fp16(bits)` / `bf16(bits)` as FP16 / BF16, Int32Array as INT32, BigInt64Array as INT64; plain
 * arrays as FP64 and INT64.
 */
export interface ScoreRequest {
  shape: readonly number[];
  logits?: FloatData;
  probabilities?: FloatData;
  labels?: LabelData;
  targets?: FloatData;
  classWeights?: FloatData;
  /** The options, by their protocol names: ignore_index, label_smoothing, epsilon, unit, … */
  parameters?: Record<string, string | number | boolean>;
  /** Per-sample losses: FP64 (the default), FP32 (half the bytes), or false for the figures only. */
  losses?: 'FP64' | 'FP32' | false;
  /** The k best classes of each sample (Triton's classification extension). */
  topClasses?: number;
  /** Echoed in the result. */
  id?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

export interface ScoreResult {
  /** sum / total_weight; null when nothing is counted. */
  cost: number | null;
  sum: number;
  count: number;
  totalWeight: number;
  perplexity: number | null;
  accuracy: number | null;
  unit: 'nats' | 'bits';
  /** Per-sample losses, flat, in the shape `lossesShape` (the labels' shape); null when not asked for. */
  losses: Float64Array | Float32Array | null;
  lossesShape: number[] | null;
  /** With `topClasses`: for each sample (flat), its best classes, best first. */
  topClasses: { index: number; value: number }[][] | null;
  id: string | null;
}

interface OutputHeader {
  name: string;
  datatype: string;
  shape: number[];
  data?: (number | string)[];
  parameters?: { binary_data_size?: number };
}

const FIGURES = ['sum', 'cost', 'count', 'total_weight', 'perplexity', 'accuracy'] as const;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A client of xent's inference protocol (KServe / Triton v2) with binary tensors: typed arrays in, the JSON header
 * and raw little-endian bytes on the wire (`Inference-Header-Content-Length`), figures and typed arrays out. A
 * refusal is thrown as an XentError carrying the service's code.
 *
 *     const xent = new XentClient('http://localhost:3000');
 *     const { cost, losses } = await xent.score({ shape: [2, 3], logits: Float32Array.of(2, 1, 0.1, 0.5, 2.5, 0.3), labels: Int32Array.of(0, 1) });
 */
export class XentClient {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;

  constructor(url: string, options: XentClientOptions = {}) {
    this.#base = url.replace(/\/+$/, '');
    this.#headers = { ...options.headers, ...(options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` }) };
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** Whether the service is ready to score (GET /v2/health/ready). */
  async ready(signal?: AbortSignal): Promise<boolean> {
    const res = await this.#fetch(`${this.#base}/v2/health/ready`, { headers: this.#headers, ...(signal === undefined ? {} : { signal }) });
    await res.arrayBuffer();
    return res.ok;
  }

  /** Scores one batch. */
  async score(request: ScoreRequest): Promise<ScoreResult> {
    const { header, tensors } = frame(request);
    const json = encoder.encode(JSON.stringify(header));
    const body = new Uint8Array(json.length + tensors.reduce((n, t) => n + t.bytes.byteLength, 0));
    body.set(json, 0);
    let offset = json.length;
    for (const t of tensors) {
      body.set(t.bytes, offset);
      offset += t.bytes.byteLength;
    }
    const res = await this.#fetch(`${this.#base}/v2/models/${MODEL_NAME}/infer`, {
      method: 'POST',
      headers: { ...this.#headers, 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
      body,
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (!res.ok) throw errorOf(res.status, bytes);
    const lengthHeader = res.headers.get('inference-header-content-length');
    return readResult(bytes, lengthHeader === null ? bytes.length : Number(lengthHeader));
  }
}

/** The JSON header and the binary tensors of a request. */
function frame(request: ScoreRequest): { header: Record<string, unknown>; tensors: WireTensor[] } {
  const inputs: Record<string, unknown>[] = [];
  const tensors: WireTensor[] = [];
  const shape = [...request.shape];
  const axis = classAxis(request.parameters?.class_dim, shape.length);
  const add = (name: string, tensor: WireTensor, tensorShape: number[]) => {
    inputs.push({ name, shape: tensorShape, datatype: tensor.datatype, parameters: { binary_data_size: tensor.bytes.byteLength } });
    tensors.push(tensor);
  };
  const one = <T>(a: [string, T | undefined], b: [string, T | undefined]): [string, T] => {
    if ((a[1] === undefined) === (b[1] === undefined)) throw new TypeError(`give exactly one of ${a[0]} and ${b[0]}`);
    return a[1] === undefined ? (b as [string, T]) : (a as [string, T]);
  };
  const [inputName, input] = one(['logits', request.logits], ['probabilities', request.probabilities]);
  add(inputName, floatTensor(input), shape);
  const [truthName, truth] = one<FloatData | LabelData>(['labels', request.labels], ['targets', request.targets]);
  if (truthName === 'labels') add('labels', labelTensor(truth as LabelData), shape.filter((_, i) => i !== axis));
  else add('targets', floatTensor(truth as FloatData), shape);
  if (request.classWeights !== undefined) {
    const weights = floatTensor(request.classWeights);
    add('class_weights', weights, [weights.elements]);
  }

  const outputs: Record<string, unknown>[] = FIGURES.map((name) => ({ name }));
  const losses = request.losses ?? 'FP64';
  if (losses !== false) outputs.unshift({ name: 'losses', parameters: { binary_data: true, datatype: losses } });
  if (request.topClasses !== undefined) outputs.push({ name: inputName, parameters: { classification: request.topClasses } });
  return {
    header: {
      ...(request.id === undefined ? {} : { id: request.id }),
      ...(request.parameters === undefined ? {} : { parameters: request.parameters }),
      inputs,
      outputs,
    },
    tensors,
  };
}

/** The class axis `class_dim` names (negative counts from the end; the last by default). */
function classAxis(classDim: unknown, rank: number): number {
  const d = typeof classDim === 'number' ? classDim : -1;
  return d < 0 ? rank + d : d;
}

function readResult(bytes: Uint8Array, headerLength: number): ScoreResult {
  const header = JSON.parse(decoder.decode(bytes.subarray(0, headerLength))) as {
    id?: string;
    parameters: { unit: 'nats' | 'bits' };
    outputs: OutputHeader[];
  };
  const result: ScoreResult = {
    cost: null,
    sum: 0,
    count: 0,
    totalWeight: 0,
    perplexity: null,
    accuracy: null,
    unit: header.parameters.unit,
    losses: null,
    lossesShape: null,
    topClasses: null,
    id: header.id ?? null,
  };
  let offset = headerLength;
  for (const output of header.outputs) {
    const size = output.parameters?.binary_data_size;
    let binary: Uint8Array | null = null;
    if (size !== undefined) {
      binary = bytes.subarray(offset, offset + size);
      offset += size;
    }
    const scalar = () => (output.data === undefined || output.data.length === 0 ? null : Number(output.data[0]));
    switch (output.name) {
      case 'losses':
        result.losses = binary === null ? Float64Array.from(output.data as number[]) : readFloats(binary, output.datatype as 'FP64' | 'FP32');
        result.lossesShape = output.shape;
        break;
      case 'sum':
        result.sum = scalar() ?? 0;
        break;
      case 'cost':
        result.cost = scalar();
        break;
      case 'count':
        result.count = scalar() ?? 0;
        break;
      case 'total_weight':
        result.totalWeight = scalar() ?? 0;
        break;
      case 'perplexity':
        result.perplexity = scalar();
        break;
      case 'accuracy':
        result.accuracy = scalar();
        break;
      default:
        result.topClasses = readClasses(output);
    }
  }
  return result;
}

/** Triton's classification strings, "<value>:<index>", grouped by sample. */
function readClasses(output: OutputHeader): { index: number; value: number }[][] {
  const k = output.shape[output.shape.length - 1] ?? 0;
  const strings = (output.data ?? []) as string[];
  const samples: { index: number; value: number }[][] = [];
  for (let i = 0; i < strings.length; i += k) {
    samples.push(
      strings.slice(i, i + k).map((s) => {
        const colon = s.lastIndexOf(':');
        return { value: Number(s.slice(0, colon)), index: Number(s.slice(colon + 1)) };
      }),
    );
  }
  return samples;
}

/** The service's error object, `{"error", "code"}`, as an XentError; anything else (a proxy's page) by its status. */
function errorOf(status: number, bytes: Uint8Array): XentError {
  const text = decoder.decode(bytes);
  try {
    const body = JSON.parse(text) as { error?: unknown; code?: unknown };
    if (typeof body.error === 'string') return new XentError(status, typeof body.code === 'string' ? body.code : `HTTP_${status}`, body.error);
  } catch {
    // not JSON
  }
  return new XentError(status, `HTTP_${status}`, `HTTP ${status}: ${text.slice(0, 200)}`);
}
