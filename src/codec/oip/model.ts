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

/** Open Inference Protocol parameter values: strings, numbers or booleans. */
export type Parameters = Record<string, string | number | boolean>;

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
  parameters: Parameters;
}

/** Inputs of which a request gives exactly one of each pair, and inputs it may leave out. */
export const INPUT_ALTERNATIVES: readonly (readonly [InputName, InputName])[] = [
  ['logits', 'probabilities'],
  ['labels', 'targets'],
];
export const OPTIONAL_INPUTS: readonly InputName[] = ['class_weights'];

/**
 * Which inputs pair up, for generic tools: the protocol's metadata has no word for alternatives or optional inputs,
 * so it is said in the metadata's parameters (values are strings), as `a|b` alternatives separated by commas.
 */
const INPUT_PARAMETERS = {
  input_alternatives: INPUT_ALTERNATIVES.map((pair) => pair.join('|')).join(','),
  optional_inputs: OPTIONAL_INPUTS.join(','),
};

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
  parameters: {
    description:
      'Send one of logits or probabilities, one of labels or targets, and optionally class_weights. Outputs logits or ' +
      'probabilities (the one sent) with the output parameter classification: k give the k best classes per sample.',
    ...INPUT_PARAMETERS,
  },
};

/**
 * Triton's model configuration extension (GET .../config): the JSON form of Triton's ModelConfig message
 * (model_config.proto in triton-inference-server/common), with what generic tools read from it: every input marked
 * `optional` (each is, alone: one of each pair is sent, class_weights may be left out), Triton's type names, and
 * max_batch_size 0 (the dims are the whole shape, with no batch dimension added). ModelParameter values are
 * `{"string_value": ...}`.
 */
export const MODEL_CONFIG = {
  name: MODEL_NAME,
  platform: PLATFORM,
  max_batch_size: 0,
  input: MODEL_METADATA.inputs.map((t) => ({ name: t.name, data_type: `TYPE_${t.datatype}`, dims: t.shape, optional: true })),
  output: MODEL_METADATA.outputs.map((t) => ({ name: t.name, data_type: `TYPE_${t.datatype}`, dims: t.shape })),
  parameters: Object.fromEntries(Object.entries(INPUT_PARAMETERS).map(([key, value]) => [key, { string_value: value }])),
};
