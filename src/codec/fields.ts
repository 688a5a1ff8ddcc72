import { z } from 'zod';

/**
 * The fields of a scoring request, with their meaning: the single source for the decoders (which fields exist, the
 * option checks), the task builder (defaults), the TypeScript types and the OpenAPI document. Both protocols take the
 * same fields: top-level members of a JSON body (POST /loss, /cost), or inference-protocol input tensors (the tensors)
 * and request parameters (the options).
 *
 * Tensors (nested arrays of numbers of any depth) are read by the tensor walker in one pass straight into typed arrays,
 * which a generic validator cannot do at 400 000 numbers a request; here they are declared for the types and the
 * document only, as a reference to the recursive `NestedNumbers` component.
 */
export const tensorField = (description: string) => z.array(z.unknown()).meta({ description, 'x-tensor': true });

/** The options: scalars, checked by zod itself. The defaults are the task builder's (codec/task.ts). */
export const scoreOptionsSchema = z.strictObject({
  ignore_index: z
    .number()
    .int()
    .optional()
    .meta({ description: 'Label value whose samples are skipped (labels only). Default -100, as PyTorch.' }),
  label_smoothing: z.number().min(0).max(1).optional().meta({ description: 'Label smoothing epsilon in [0, 1], as PyTorch. Default 0.' }),
  epsilon: z
    .number()
    .min(0)
    .max(0.5)
    .optional()
    .meta({
      description: 'Probabilities only: clip each p to [epsilon, 1 - epsilon] before the log (float64, as numpy.clip). Default 0.',
    }),
  unit: z.enum(['nats', 'bits']).optional().meta({ description: 'Unit of every loss figure. Default nats.' }),
  class_dim: z
    .number()
    .int()
    .optional()
    .meta({
      description:
        "The input's class dimension: -1 (the default) is the last, as in [N][C] or [N][T][C]; 1 is PyTorch's layout [N][C], [N][C][T], [N][C][H][W]. Negative values count from the end. Labels and sample_weights take the input's shape without it; losses follow.",
    }),
  include: z
    .union([z.array(z.string()), z.string()])
    .optional()
    .meta({
      description:
        'Figures to compute in the same pass as the loss, by name: probability, rank, top_k, entropy, kl, brier, calibration, sequences, state (README "Diagnostics"). An array; on the inference protocol also a comma-separated string.',
    }),
  top_k: z
    .union([z.array(z.number()), z.string()])
    .optional()
    .meta({ description: 'With include top_k: the ks of top_k_accuracy, integers >= 1. Default [1, 5].' }),
  calibration_bins: z
    .number()
    .optional()
    .meta({ description: 'With include calibration: the number of equal-width confidence bins, 1 to 100. Default 15.' }),
  model: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'a model name is 1 to 64 characters from A-Z a-z 0-9 _ . : -')
    .optional()
    .meta({
      description:
        'The name of the model whose outputs these are: the scored figures add to the Prometheus counters labelled with it (xent_model_loss_nats_sum, ...), for its cost over time across every replica. 1 to 64 characters from A-Z a-z 0-9 _ . : -',
    }),
  renormalize: z
    .boolean()
    .optional()
    .meta({
      description:
        'Probabilities only: divide each row by its sum first (then epsilon clips), as Keras and scikit-learn do, for low-precision softmax outputs (float16 rows miss 1 by 2-5e-4). Default false: rows must sum to 1 within 1e-4.',
    }),
});

export type OptionName = keyof typeof scoreOptionsSchema.shape;

/** What `include` may name: the diagnostics, per-sequence figures and the mergeable state. */
export const INCLUDE_NAMES = ['probability', 'rank', 'top_k', 'entropy', 'kl', 'brier', 'calibration', 'sequences', 'state'] as const;
export type IncludeName = (typeof INCLUDE_NAMES)[number];
/** The include names that need the class distribution, which target log-probabilities do not have. */
export const CLASS_DIAGNOSTICS: readonly IncludeName[] = ['rank', 'top_k', 'entropy', 'kl', 'brier', 'calibration'];
export const OPTION_NAMES = Object.keys(scoreOptionsSchema.shape) as OptionName[];

/** A JSON scoring request (POST /loss, /cost): the tensors and the options as members of one object. */
export const scoreRequestSchema = z.strictObject({
  logits: tensorField(
    'Unnormalised scores, class dimension last: shape [N][C], [N][T][C] or more leading dimensions. Finite numbers.',
  ).optional(),
  probabilities: tensorField(
    'Probabilities, class dimension last, same shapes as logits. Each value in [0, 1], each row summing to 1 within 1e-4.',
  ).optional(),
  labels: tensorField(
    "Class indices (integers), the input's shape without its class dimension. A label equal to ignore_index is skipped.",
  ).optional(),
  targets: tensorField(
    'One-hot or soft target distributions, same shape as the input; finite and >= 0, used as given (not renormalised).',
  ).optional(),
  target_log_probs: tensorField(
    'Instead of logits or probabilities and the truth: the log-probability the model gave each true token (prompt logprobs), any shape, each finite and <= 0. Loss = -target_log_prob.',
  ).optional(),
  mask: tensorField('With target_log_probs: 1 to count an element, 0 to leave it out; the same shape.').optional(),
  bytes: z
    .array(z.number())
    .optional()
    .meta({ description: "The byte length of each sequence's text (N integers >= 0, N the first dimension of the samples): bits_per_byte, byte_perplexity." }),
  words: z
    .array(z.number())
    .optional()
    .meta({ description: "The word length of each sequence's text (N integers >= 0): word_perplexity." }),
  class_weights: z
    .array(z.number())
    .optional()
    .meta({ description: 'A weight per class (length C), finite and >= 0, as PyTorch `weight`.' }),
  sample_weights: tensorField(
    "A weight per sample, the labels' shape, finite and >= 0, as scikit-learn's and Keras's sample_weight: each loss is multiplied by it, and total_weight sums it (times the label's class weight).",
  ).optional(),
  ...scoreOptionsSchema.shape,
});

export type ScoreRequest = z.infer<typeof scoreRequestSchema>;

/** Every member a JSON scoring request may have. */
export const SCORE_FIELDS: ReadonlySet<string> = new Set(Object.keys(scoreRequestSchema.shape));

/**
 * Names that other libraries give to what xent has (or does instead), for the answer to an unknown field: a user of
 * PyTorch, Keras or scikit-learn reaching for the word they know is told the one xent uses.
 */
export const FOREIGN_NAMES: Readonly<Record<string, string>> = {
  weight: 'class weights are class_weights (PyTorch\'s weight)',
  weights: 'class weights are class_weights, per-sample weights sample_weights',
  class_weight: 'class weights are class_weights',
  sample_weight: 'per-sample weights are sample_weights (scikit-learn\'s and Keras\'s sample_weight)',
  axis: 'the class dimension is class_dim (default -1, the last; 1 for PyTorch\'s [N, C, ...])',
  dim: 'the class dimension is class_dim (default -1, the last; 1 for PyTorch\'s [N, C, ...])',
  y_true: 'the truth is labels (class indices) or targets (distributions)',
  y_pred: 'the model output is logits or probabilities',
  input: 'the model output is logits or probabilities',
  target: 'the truth is labels (class indices) or targets (distributions)',
  from_logits: 'xent reads what the output is from its field: send logits, or probabilities',
  reduction:
    "xent reduces both ways at once: POST /loss gives the per-sample losses (reduction='none') with the sum (reduction='sum'), and cost is the mean (reduction='mean')",
  normalize: 'to divide probability rows by their sums, send renormalize: true',
};
