import type { FloatDatatype, IntegerDatatype, NumericDatatype } from './datatypes.js';
import { FLOAT_DATATYPES, INTEGER_DATATYPES } from './datatypes.js';

/** The one model this server serves over the Open Inference Protocol, and its one version. */
export const MODEL_NAME = 'cross_entropy';
export const MODEL_VERSION = '1';
export const PLATFORM = 'xent';

/** The extensions listed in the server metadata: Triton's binary tensors, classification and model configuration. */
export const EXTENSIONS = ['binary_tensor_data', 'classification', 'model_configuration'] as const;

export type InputName = 'logits' | 'probabilities' | 'labels' | 'targets' | 'class_weights';

/** The datatypes each input accepts; the first is the one the model metadata advertises. */
export const INPUT_DATATYPES: Readonly<Record<InputName, readonly NumericDatatype[]>> = {
  logits: ['FP64', 'FP32', 'FP16', 'BF16'],
  probabilities: ['FP64', 'FP32', 'FP16', 'BF16'],
  labels: ['INT64', 'INT32'],
  targets: ['FP64', 'FP32', 'FP16', 'BF16'],
  class_weights: ['FP64', 'FP32', 'FP16', 'BF16'],
};

export const INPUT_NAMES = Object.keys(INPUT_DATATYPES) as InputName[];

export function isFloatDatatype(d: NumericDatatype): d is FloatDatatype {
  return (FLOAT_DATATYPES as readonly string[]).includes(d);
}

export function isIntegerDatatype(d: NumericDatatype): d is IntegerDatatype {
  return (INTEGER_DATATYPES as readonly string[]).includes(d);
}

/** The outputs, in the order they are returned when the request names none. */
export const OUTPUT_NAMES = ['losses', 'sum', 'cost', 'count', 'total_weight', 'perplexity', 'accuracy'] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** The model output, as an output: sent only as Triton's classification (its k best classes per sample). */
export const CLASSIFIED_OUTPUTS = ['logits', 'probabilities'] as const;
export type ClassifiedOutput = (typeof CLASSIFIED_OUTPUTS)[number];

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/**
 * Model metadata as the protocol defines it (-1 for a variable dimension). The shapes show the common 2-D case;
 * any number of leading dimensions is accepted (`[..., C]`), and every floating-point input accepts FP16, BF16, FP32
 * or FP64, labels INT32 or INT64. cost, perplexity and accuracy have shape [0] when they are undefined (no weight
 * counted), which JSON could not say with a number.
 */
export const MODEL_METADATA: ModelMetadata = {
  name: MODEL_NAME,
  versions: [MODEL_VERSION],
  platform: PLATFORM,
  inputs: [
    { name: 'logits', datatype: 'FP64', shape: [-1, -1] },
    { name: 'probabilities', datatype: 'FP64', shape: [-1, -1] },
    { name: 'labels', datatype: 'INT64', shape: [-1] },
    { name: 'targets', datatype: 'FP64', shape: [-1, -1] },
    { name: 'class_weights', datatype: 'FP64', shape: [-1] },
  ],
  outputs: [
    { name: 'losses', datatype: 'FP64', shape: [-1] },
    { name: 'sum', datatype: 'FP64', shape: [1] },
    { name: 'cost', datatype: 'FP64', shape: [-1] },
    { name: 'count', datatype: 'INT64', shape: [1] },
    { name: 'total_weight', datatype: 'FP64', shape: [1] },
    { name: 'perplexity', datatype: 'FP64', shape: [-1] },
    { name: 'accuracy', datatype: 'FP64', shape: [-1] },
  ],
};
