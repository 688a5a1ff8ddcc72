import type { IncludeName } from '../fields.js';
import type { FloatDatatype, IntegerDatatype, NumericDatatype } from './datatypes.js';
import { FLOAT_DATATYPES, INTEGER_DATATYPES } from './datatypes.js';

/** The one model this server serves over the Open Inference Protocol, and its one version. */
export const MODEL_NAME = 'cross_entropy';
export const MODEL_VERSION = '1';
export const PLATFORM = 'xent';

/** The extensions listed in the server metadata: Triton's binary tensors, classification and model configuration. */
export const EXTENSIONS = ['binary_tensor_data', 'classification', 'model_configuration'] as const;

export type InputName =
  | 'logits'
  | 'probabilities'
  | 'target_log_probs'
  | 'labels'
  | 'targets'
  | 'class_weights'
  | 'sample_weights'
  | 'mask'
  | 'bytes'
  | 'words';

/** The datatypes each input accepts; the first is the one the model metadata advertises. */
export const INPUT_DATATYPES: Readonly<Record<InputName, readonly NumericDatatype[]>> = {
  logits: ['FP64', 'FP32', 'FP16', 'BF16'],
  probabilities: ['FP64', 'FP32', 'FP16', 'BF16'],
  labels: ['INT64', 'INT32'],
  targets: ['FP64', 'FP32', 'FP16', 'BF16'],
  class_weights: ['FP64', 'FP32', 'FP16', 'BF16'],
  sample_weights: ['FP64', 'FP32', 'FP16', 'BF16'],
  target_log_probs: ['FP64', 'FP32', 'FP16', 'BF16'],
  mask: ['BOOL', 'INT32', 'INT64'],
  bytes: ['INT64', 'INT32'],
  words: ['INT64', 'INT32'],
};

export const INPUT_NAMES = Object.keys(INPUT_DATATYPES) as InputName[];

export function isFloatDatatype(d: NumericDatatype): d is FloatDatatype {
  return (FLOAT_DATATYPES as readonly string[]).includes(d);
}

export function isIntegerDatatype(d: NumericDatatype): d is IntegerDatatype {
  return (INTEGER_DATATYPES as readonly string[]).includes(d);
}

/** What decides whether an output exists for a request. */
export interface OutputContext {
  include: ReadonlySet<IncludeName>;
  bytes: boolean;
  words: boolean;
}

/**
 * Every output, in the order they are returned when the request names none, with its datatype and when it exists:
 * the loss figures always; the diagnostics, sequence and text figures with what `include`, bytes and words ask for;
 * per-sample figures in the samples' shape, per-sequence ones as [N], per-bin ones as [B], the state as one BYTES
 * element holding its JSON. The names are the JSON API's (the per-sequence figures prefixed `sequence_`).
 */
export const OUTPUTS = [
  ['losses', 'FP64', () => true],
  ['sum', 'FP64', () => true],
  ['cost', 'FP64', () => true],
  ['count', 'INT64', () => true],
  ['total_weight', 'FP64', () => true],
  ['perplexity', 'FP64', () => true],
  ['accuracy', 'FP64', () => true],
  ['probability', 'FP64', (c) => c.include.has('probability')],
  ['mean_probability', 'FP64', (c) => c.include.has('probability')],
  ['rank', 'FP64', (c) => c.include.has('rank')],
  ['mean_reciprocal_rank', 'FP64', (c) => c.include.has('rank')],
  ['top_k', 'INT64', (c) => c.include.has('top_k')],
  ['top_k_accuracy', 'FP64', (c) => c.include.has('top_k')],
  ['entropy', 'FP64', (c) => c.include.has('entropy')],
  ['mean_entropy', 'FP64', (c) => c.include.has('entropy')],
  ['kl', 'FP64', (c) => c.include.has('kl')],
  ['mean_kl', 'FP64', (c) => c.include.has('kl')],
  ['brier', 'FP64', (c) => c.include.has('brier')],
  ['mean_brier', 'FP64', (c) => c.include.has('brier')],
  ['calibration_lower', 'FP64', (c) => c.include.has('calibration')],
  ['calibration_upper', 'FP64', (c) => c.include.has('calibration')],
  ['calibration_count', 'INT64', (c) => c.include.has('calibration')],
  ['calibration_confidence', 'FP64', (c) => c.include.has('calibration')],
  ['calibration_accuracy', 'FP64', (c) => c.include.has('calibration')],
  ['calibration_ece', 'FP64', (c) => c.include.has('calibration')],
  ['calibration_mce', 'FP64', (c) => c.include.has('calibration')],
  ['sequence_sum', 'FP64', (c) => c.include.has('sequences')],
  ['sequence_count', 'INT64', (c) => c.include.has('sequences')],
  ['sequence_total_weight', 'FP64', (c) => c.include.has('sequences')],
  ['sequence_cost', 'FP64', (c) => c.include.has('sequences')],
  ['sequence_perplexity', 'FP64', (c) => c.include.has('sequences')],
  ['sequence_bits_per_byte', 'FP64', (c) => c.include.has('sequences') && c.bytes],
  ['sequence_byte_perplexity', 'FP64', (c) => c.include.has('sequences') && c.bytes],
  ['sequence_word_perplexity', 'FP64', (c) => c.include.has('sequences') && c.words],
  ['mean_sequence_perplexity', 'FP64', (c) => c.include.has('sequences') || c.bytes || c.words],
  ['bits_per_byte', 'FP64', (c) => c.bytes],
  ['byte_perplexity', 'FP64', (c) => c.bytes],
  ['word_perplexity', 'FP64', (c) => c.words],
  ['state', 'BYTES', (c) => c.include.has('state')],
] as const satisfies readonly (readonly [string, 'FP64' | 'INT64' | 'BYTES', (c: OutputContext) => boolean])[];

export const OUTPUT_NAMES = OUTPUTS.map(([name]) => name);
export type OutputName = (typeof OUTPUTS)[number][0];
export const OUTPUT_DATATYPES = Object.fromEntries(OUTPUTS.map(([name, datatype]) => [name, datatype])) as Record<OutputName, 'FP64' | 'INT64' | 'BYTES'>;

/** The outputs that exist for a request, in the model's order. */
export function availableOutputs(context: OutputContext): OutputName[] {
  return OUTPUTS.filter(([, , exists]) => exists(context)).map(([name]) => name);
}

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
export const INPUT_ALTERNATIVES: readonly (readonly InputName[])[] = [
  ['logits', 'probabilities', 'target_log_probs'],
  ['labels', 'targets'],
];
/** Inputs a request may leave out (labels and targets are not sent with target_log_probs either). */
export const OPTIONAL_INPUTS: readonly InputName[] = ['class_weights', 'sample_weights', 'mask', 'bytes', 'words'];

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
    { name: 'sample_weights', datatype: 'FP64', shape: [-1] },
    { name: 'target_log_probs', datatype: 'FP64', shape: [-1] },
    { name: 'mask', datatype: 'BOOL', shape: [-1] },
    { name: 'bytes', datatype: 'INT64', shape: [-1] },
    { name: 'words', datatype: 'INT64', shape: [-1] },
  ],
  outputs: OUTPUTS.map(([name, datatype]) => ({ name, datatype, shape: name === 'sum' || name === 'count' || name === 'total_weight' ? [1] : [-1] })),
  parameters: {
    description:
      'Send one of logits or probabilities with one of labels or targets (optionally class_weights, sample_weights), or ' +
      'target_log_probs (optionally a mask); bytes and words optionally. The outputs past accuracy exist when the ' +
      'request parameter include names them. Outputs logits or probabilities (the one sent) with the output parameter ' +
      'classification: k give the k best classes per sample.',
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
