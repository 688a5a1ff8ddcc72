import type { Evaluation } from '../../kernel/evaluate.js';
import type { Unit } from '../../kernel/types.js';
import { costFigures, extraFigures, type CostFigures } from '../figures.js';
import { pointerTo, unflatten } from '../pointer.js';
import { ProblemError } from '../problems.js';
import { encodeBytesTensor, topClasses } from './classification.js';
import { encodeFp32, encodeFp64, encodeInt64 } from './datatypes.js';
import { sampleIndices } from '../task.js';
import type { DecodedInference } from './decode.js';
import { MODEL_NAME, MODEL_VERSION, type OutputName } from './model.js';

export interface ResponseOutput {
  name: string;
  datatype: string;
  shape: number[];
  /** Numbers (null where undefined), or the strings of a BYTES tensor (a classification, the state). */
  data?: (number | string | null)[];
  parameters?: { binary_data_size: number };
}

export interface InferenceResponse {
  model_name: string;
  model_version: string;
  id?: string;
  parameters: { unit: Unit };
  outputs: ResponseOutput[];
}

/** A JSON response, or the binary form: the JSON header followed by the output bytes in the order of the outputs. */
export type EncodedResponse = { kind: 'json'; body: InferenceResponse } | { kind: 'binary'; body: Buffer; headerLength: number };

/**
 * The inference response for a scored request: the requested outputs in the requested order (all, in the model's
 * order, when none were named), each as JSON data or as binary tensor data. An undefined figure (cost, perplexity or
 * accuracy when nothing is counted: null in the JSON API) is an empty tensor of shape [0], never NaN.
 */
export function encodeInferenceResponse(scored: Extract<Evaluation, { status: 'ok' }>, request: DecodedInference): EncodedResponse {
  const rowShape = request.layout.rowShape;
  const outputs: ResponseOutput[] = [];
  const chunks: Buffer[] = [];
  const figures = costFigures(scored.summary);
  const valuesOf = outputValues(scored, request, figures);

  for (const requested of request.outputs) {
    if (requested.classes > 0) {
      const { task } = request;
      const strings = topClasses(task.input, task.rows, task.classes, requested.classes);
      const shape = [...rowShape, Math.min(requested.classes, task.classes)];
      if (requested.binary) {
        const bytes = encodeBytesTensor(strings);
        chunks.push(bytes);
        outputs.push({ name: requested.name, datatype: 'BYTES', shape, parameters: { binary_data_size: bytes.length } });
      } else {
        outputs.push({ name: requested.name, datatype: 'BYTES', shape, data: strings });
      }
      continue;
    }
    const output = valuesOf(requested.name as OutputName);
    if (typeof output === 'string') {
      // BYTES: the state's JSON, one element. Binary: a 4-byte little-endian length, then the bytes (the extension's layout).
      const text = Buffer.from(output, 'utf8');
      if (requested.binary) {
        const bytes = Buffer.alloc(4 + text.length);
        bytes.writeUInt32LE(text.length, 0);
        text.copy(bytes, 4);
        chunks.push(bytes);
        outputs.push({ name: requested.name, datatype: 'BYTES', shape: [1], parameters: { binary_data_size: bytes.length } });
      } else {
        outputs.push({ name: requested.name, datatype: 'BYTES', shape: [1], data: [output] });
      }
      continue;
    }
    const shape = output.perSample ? rowShape : [output.values.length];
    const values = output.values;
    if (requested.datatype === 'FP32') checkFp32Range(values, request, rowShape);
    if (requested.binary) {
      const bytes =
        requested.datatype === 'INT64' ? encodeInt64(Array.from(values)) : requested.datatype === 'FP32' ? encodeFp32(values) : encodeFp64(values);
      chunks.push(bytes);
      outputs.push({ name: requested.name, datatype: requested.datatype, shape, parameters: { binary_data_size: bytes.length } });
    } else {
      // JSON has no NaN: an element that is not defined (an ignored sample's diagnostic, an empty sequence's cost) is null.
      const data = Array.from(values, (x) => (x !== x ? null : requested.datatype === 'FP32' ? Math.fround(x) : x));
      outputs.push({ name: requested.name, datatype: requested.datatype, shape, data });
    }
  }

  const header: InferenceResponse = {
    model_name: MODEL_NAME,
    model_version: MODEL_VERSION,
    ...(request.id === null ? {} : { id: request.id }),
    parameters: { unit: figures.unit },
    outputs,
  };
  if (chunks.length === 0) return { kind: 'json', body: header };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { kind: 'binary', body: Buffer.concat([json, ...chunks]), headerLength: json.length };
}

/**
 * The values of every output a request can have: per-sample figures in the samples' order (NaN where a sample is not
 * counted), per-sequence and per-bin ones as vectors (NaN for an undefined element), batch figures as one element or
 * none when undefined (never NaN), the state as its JSON text.
 */
function outputValues(scored: Extract<Evaluation, { status: 'ok' }>, request: DecodedInference, f: CostFigures) {
  const extra = extraFigures(scored, request, request.options, true);
  const unit = scored.summary.unit;
  const rows = scored.diagnostics?.rows ?? {};
  const scalar = (x: number | null | undefined) => ({ perSample: false, values: x === null || x === undefined ? new Float64Array(0) : Float64Array.of(x) });
  const vector = (xs: readonly (number | null | undefined)[]) => ({ perSample: false, values: Float64Array.from(xs, (x) => (x === null || x === undefined ? NaN : x)) });
  const perSample = (xs: Float64Array | undefined, nats = false) => ({
    perSample: true,
    values: xs === undefined ? new Float64Array(0) : nats && unit === 'bits' ? xs.map((x) => x / Math.LN2) : xs,
  });
  const bins = extra.calibration?.bins ?? [];
  const sequences = extra.sequences ?? [];
  return (name: OutputName): { perSample: boolean; values: Float64Array } | string => {
    switch (name) {
      case 'losses':
        return { perSample: true, values: scored.summary.losses };
      case 'sum':
      case 'cost':
      case 'count':
      case 'total_weight':
      case 'perplexity':
      case 'accuracy':
        return scalar(f[name]);
      case 'probability':
      case 'rank':
      case 'brier':
        return perSample(rows[name]);
      case 'entropy':
      case 'kl':
        return perSample(rows[name], true);
      case 'mean_probability':
      case 'mean_reciprocal_rank':
      case 'mean_entropy':
      case 'mean_kl':
      case 'mean_brier':
      case 'mean_sequence_perplexity':
      case 'bits_per_byte':
      case 'byte_perplexity':
      case 'word_perplexity':
        return scalar(extra[name]);
      case 'top_k':
        return vector(Object.keys(extra.top_k_accuracy ?? {}).map(Number));
      case 'top_k_accuracy':
        return vector(Object.values(extra.top_k_accuracy ?? {}));
      case 'calibration_lower':
        return vector(bins.map((b) => b.lower));
      case 'calibration_upper':
        return vector(bins.map((b) => b.upper));
      case 'calibration_count':
        return vector(bins.map((b) => b.count));
      case 'calibration_confidence':
        return vector(bins.map((b) => b.confidence));
      case 'calibration_accuracy':
        return vector(bins.map((b) => b.accuracy));
      case 'calibration_ece':
        return scalar(extra.calibration?.ece);
      case 'calibration_mce':
        return scalar(extra.calibration?.mce);
      case 'sequence_sum':
        return vector(sequences.map((q) => q.sum));
      case 'sequence_count':
        return vector(sequences.map((q) => q.count));
      case 'sequence_total_weight':
        return vector(sequences.map((q) => q.total_weight));
      case 'sequence_cost':
        return vector(sequences.map((q) => q.cost));
      case 'sequence_perplexity':
        return vector(sequences.map((q) => q.perplexity));
      case 'sequence_bits_per_byte':
        return vector(sequences.map((q) => q.bits_per_byte));
      case 'sequence_byte_perplexity':
        return vector(sequences.map((q) => q.byte_perplexity));
      case 'sequence_word_perplexity':
        return vector(sequences.map((q) => q.word_perplexity));
      case 'state':
        return JSON.stringify(extra.state);
    }
  };
}

/** FP32 losses on request: a loss beyond the float32 range would be Infinity, so it is refused like any non-finite result. */
function checkFp32Range(values: Float64Array, request: DecodedInference, rowShape: number[]): void {
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(Math.fround(values[i]!))) continue;
    const at = unflatten(i, rowShape);
    throw ProblemError.of(
      'XENT_NON_FINITE_RESULT',
      pointerTo(request.layout.inputField, sampleIndices(i, request.layout)),
      `the loss of sample [${at.join(', ')}] exceeds the FP32 range; request FP64 losses`,
    );
  }
}
