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
});

export type OptionName = keyof typeof scoreOptionsSchema.shape;
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
  class_weights: z
    .array(z.number())
    .optional()
    .meta({ description: 'A weight per class (length C), finite and >= 0, as PyTorch `weight`.' }),
  ...scoreOptionsSchema.shape,
});

export type ScoreRequest = z.infer<typeof scoreRequestSchema>;

/** Every member a JSON scoring request may have. */
export const SCORE_FIELDS: ReadonlySet<string> = new Set(Object.keys(scoreRequestSchema.shape));
