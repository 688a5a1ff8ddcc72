import type { FastifyInstance } from 'fastify';

/**
 * The wire format of the Open Inference Protocol's binary tensor data extension, written from the spec for the tests
 * and independent of src/oip: little-endian elements, the JSON header first, then the binary tensors in input order,
 * Inference-Header-Content-Length = the header's length in bytes.
 */

export const INFER = '/v2/models/cross_entropy/infer';

export function fp64(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeDoubleLE(v, i * 8));
  return b;
}

export function fp32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

/** FP16 or BF16 elements given as their 16-bit patterns. */
export function bits16(patterns: number[]): Buffer {
  const b = Buffer.alloc(patterns.length * 2);
  patterns.forEach((p, i) => b.writeUInt16LE(p, i * 2));
  return b;
}

/** FP32 elements given as their 32-bit patterns (for NaN and ±Infinity written out). */
export function bits32(patterns: number[]): Buffer {
  const b = Buffer.alloc(patterns.length * 4);
  patterns.forEach((p, i) => b.writeUInt32LE(p, i * 4));
  return b;
}

export function int32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
}

export function int64(values: (number | bigint)[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), i * 8));
  return b;
}

export interface WireRequest {
  payload: Buffer;
  headers: Record<string, string>;
}

/** A binary request: the JSON header, then the tensors' bytes; Content-Type as given (Triton's client sends none). */
export function binaryRequest(header: unknown, tensors: Buffer[], contentType: string | null = 'application/octet-stream'): WireRequest {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const headers: Record<string, string> = { 'inference-header-content-length': String(json.length) };
  if (contentType !== null) headers['content-type'] = contentType;
  return { payload: Buffer.concat([json, ...tensors]), headers };
}

export function jsonRequest(body: unknown): WireRequest {
  return { payload: Buffer.from(JSON.stringify(body)), headers: { 'content-type': 'application/json' } };
}

export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  /** From `data` or decoded from the binary section. */
  values: number[];
  binary: boolean;
}

export interface InferResult {
  status: number;
  headers: Record<string, unknown>;
  /** The JSON header of the response (the whole body when it is all JSON). */
  json: Record<string, unknown>;
  outputs: Map<string, OutputTensor>;
  /** The `error` text of an error response. */
  error: string | undefined;
  code: string | undefined;
}

function decodeValues(bytes: Buffer, datatype: string): number[] {
  const out: number[] = [];
  switch (datatype) {
    case 'FP64':
      for (let i = 0; i < bytes.length; i += 8) out.push(bytes.readDoubleLE(i));
      break;
    case 'FP32':
      for (let i = 0; i < bytes.length; i += 4) out.push(bytes.readFloatLE(i));
      break;
    case 'INT64':
      for (let i = 0; i < bytes.length; i += 8) out.push(Number(bytes.readBigInt64LE(i)));
      break;
    default:
      throw new Error(`unexpected output datatype ${datatype}`);
  }
  return out;
}

/** Sends a request to the infer endpoint and reads the response as a client following the spec would. */
export async function infer(app: FastifyInstance, request: WireRequest | Record<string, unknown>, url = INFER): Promise<InferResult> {
  const wire = Buffer.isBuffer((request as WireRequest).payload) ? (request as WireRequest) : jsonRequest(request);
  const res = await app.inject({ method: 'POST', url, payload: wire.payload, headers: wire.headers });
  const raw = res.rawPayload;
  const headerLength = res.headers['inference-header-content-length'];
  const end = headerLength === undefined ? raw.length : Number(headerLength);
  const json = JSON.parse(raw.subarray(0, end).toString('utf8')) as Record<string, unknown>;
  const outputs = new Map<string, OutputTensor>();
  let cursor = end;
  for (const o of (json.outputs as Record<string, unknown>[] | undefined) ?? []) {
    const size = (o.parameters as { binary_data_size?: number } | undefined)?.binary_data_size;
    const datatype = o.datatype as string;
    let values: number[];
    if (size === undefined) {
      values = o.data as number[];
    } else {
      values = decodeValues(raw.subarray(cursor, cursor + size), datatype);
      cursor += size;
    }
    outputs.set(o.name as string, { name: o.name as string, datatype, shape: o.shape as number[], values, binary: size !== undefined });
  }
  if (headerLength !== undefined && cursor !== raw.length) throw new Error(`response has ${raw.length - cursor} stray bytes`);
  return {
    status: res.statusCode,
    headers: res.headers,
    json,
    outputs,
    error: typeof json.error === 'string' ? json.error : undefined,
    code: typeof json.code === 'string' ? json.code : undefined,
  };
}

/** Nested numbers flattened row-major. */
export function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x as number];
}
