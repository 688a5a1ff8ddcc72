import type { Unit } from '../../kernel/types.js';
import type { CostFigures } from '../figures.js';
import { pointerTo, unflatten } from '../pointer.js';
import { ProblemError } from '../problems.js';
import { encodeBytesTensor, topClasses } from './classification.js';
import { encodeFp32, encodeFp64, encodeInt64 } from './datatypes.js';
import type { DecodedInference, RequestedOutput } from './decode.js';
import { MODEL_NAME, MODEL_VERSION } from './model.js';

export interface ResponseOutput {
  name: string;
  datatype: string;
  shape: number[];
  /** Numbers, or the strings of a BYTES tensor (a classification). */
  data?: number[] | string[];
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
export function encodeInferenceResponse(figures: CostFigures, losses: Float64Array, request: DecodedInference): EncodedResponse {
  const rowShape = request.layout.shape.slice(0, -1);
  const outputs: ResponseOutput[] = [];
  const chunks: Buffer[] = [];

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
    const values = valuesOf(requested, figures, losses);
    const shape = requested.name === 'losses' ? rowShape : [values.length];
    if (requested.datatype === 'FP32') checkFp32Range(values, request, rowShape);
    if (requested.binary) {
      const bytes =
        requested.datatype === 'INT64' ? encodeInt64(Array.from(values)) : requested.datatype === 'FP32' ? encodeFp32(values) : encodeFp64(values);
      chunks.push(bytes);
      outputs.push({ name: requested.name, datatype: requested.datatype, shape, parameters: { binary_data_size: bytes.length } });
    } else {
      const data = requested.datatype === 'FP32' ? Array.from(values, Math.fround) : Array.from(values);
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

function valuesOf(requested: RequestedOutput, f: CostFigures, losses: Float64Array): Float64Array {
  const scalar = (x: number | null) => (x === null ? new Float64Array(0) : Float64Array.of(x));
  switch (requested.name) {
    case 'logits':
    case 'probabilities':
      throw new Error('a classification has no values: encoded by topClasses');
    case 'losses':
      return losses;
    case 'sum':
      return scalar(f.sum);
    case 'cost':
      return scalar(f.cost);
    case 'count':
      return scalar(f.count);
    case 'total_weight':
      return scalar(f.total_weight);
    case 'perplexity':
      return scalar(f.perplexity);
    case 'accuracy':
      return scalar(f.accuracy);
  }
}

/** FP32 losses on request: a loss beyond the float32 range would be Infinity, so it is refused like any non-finite result. */
function checkFp32Range(values: Float64Array, request: DecodedInference, rowShape: number[]): void {
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(Math.fround(values[i]!))) continue;
    const at = unflatten(i, rowShape);
    throw ProblemError.of(
      'XENT_NON_FINITE_RESULT',
      pointerTo(request.layout.inputField, at),
      `the loss of sample [${at.join(', ')}] exceeds the FP32 range; request FP64 losses`,
    );
  }
}
