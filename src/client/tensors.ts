/**
 * Typed arrays to the inference protocol's binary tensor data and back: little-endian, row-major, no padding (Triton's
 * binary tensor data extension). On a little-endian host (every platform Node runs on in practice) the bytes of a
 * typed array are sent as they are, with no copy; elsewhere they are written element by element.
 */

/** FP16 or BF16 values given as their 16-bit patterns (JavaScript has no 16-bit float array). */
export interface HalfTensor {
  datatype: 'FP16' | 'BF16';
  bits: Uint16Array;
}

/** IEEE binary16 values, as their bit patterns (e.g. numpy's `float16` array's `.view(np.uint16)`). */
export function fp16(bits: Uint16Array): HalfTensor {
  return { datatype: 'FP16', bits };
}

/** bfloat16 values, as their bit patterns (the upper 16 bits of each float32). */
export function bf16(bits: Uint16Array): HalfTensor {
  return { datatype: 'BF16', bits };
}

/** Floating-point tensor data: FP64, FP32, FP16/BF16 bits, or plain numbers (sent as FP64, exactly). */
export type FloatData = Float64Array | Float32Array | HalfTensor | readonly number[];
/** Class indices: INT32, INT64, or plain integers (sent as INT64). */
export type LabelData = Int32Array | BigInt64Array | readonly number[];

export type Datatype = 'FP64' | 'FP32' | 'FP16' | 'BF16' | 'INT32' | 'INT64';

/** A tensor ready to send: its datatype, element count and little-endian bytes. */
export interface WireTensor {
  datatype: Datatype;
  elements: number;
  bytes: Uint8Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function view(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** The little-endian bytes of a typed array, written element by element on a big-endian host. */
function littleEndian(array: Float64Array | Float32Array | Uint16Array | Int32Array | BigInt64Array): Uint8Array {
  if (LITTLE_ENDIAN) return view(array);
  const out = new DataView(new ArrayBuffer(array.byteLength));
  const width = array.BYTES_PER_ELEMENT;
  for (let i = 0; i < array.length; i++) {
    const v = array[i]!;
    if (array instanceof Float64Array) out.setFloat64(i * width, v as number, true);
    else if (array instanceof Float32Array) out.setFloat32(i * width, v as number, true);
    else if (array instanceof Uint16Array) out.setUint16(i * width, v as number, true);
    else if (array instanceof Int32Array) out.setInt32(i * width, v as number, true);
    else out.setBigInt64(i * width, v as bigint, true);
  }
  return new Uint8Array(out.buffer);
}

export function floatTensor(data: FloatData): WireTensor {
  if (data instanceof Float64Array) return { datatype: 'FP64', elements: data.length, bytes: littleEndian(data) };
  if (data instanceof Float32Array) return { datatype: 'FP32', elements: data.length, bytes: littleEndian(data) };
  if (Array.isArray(data)) return floatTensor(Float64Array.from(data as readonly number[]));
  const half = data as HalfTensor;
  return { datatype: half.datatype, elements: half.bits.length, bytes: littleEndian(half.bits) };
}

export function labelTensor(data: LabelData): WireTensor {
  if (data instanceof Int32Array) return { datatype: 'INT32', elements: data.length, bytes: littleEndian(data) };
  if (data instanceof BigInt64Array) return { datatype: 'INT64', elements: data.length, bytes: littleEndian(data) };
  const labels = data as readonly number[];
  const out = new BigInt64Array(labels.length);
  labels.forEach((x, i) => {
    if (!Number.isSafeInteger(x)) throw new TypeError(`labels[${i}] is ${x}: a label is an integer class index`);
    out[i] = BigInt(x);
  });
  return labelTensor(out);
}

/** `count` little-endian FP64 or FP32 values from `bytes`, into an array of their own (aligned, not a view). */
export function readFloats(bytes: Uint8Array, datatype: 'FP64' | 'FP32'): Float64Array | Float32Array {
  const width = datatype === 'FP64' ? 8 : 4;
  const count = bytes.byteLength / width;
  const copy = bytes.slice();
  if (LITTLE_ENDIAN) return datatype === 'FP64' ? new Float64Array(copy.buffer, 0, count) : new Float32Array(copy.buffer, 0, count);
  const data = new DataView(copy.buffer);
  const out = datatype === 'FP64' ? new Float64Array(count) : new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = datatype === 'FP64' ? data.getFloat64(i * 8, true) : data.getFloat32(i * 4, true);
  return out;
}
