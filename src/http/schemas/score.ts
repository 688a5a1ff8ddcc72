import { z } from 'zod';
import type { CostFigures, LossFigures } from '../../codec/figures.js';
import { scoreRequestSchema, tensorField } from '../../codec/fields.js';

/**
 * The OpenAPI side of POST /loss and /cost: the request as the codec defines it (codec/fields.ts), with examples, and
 * the responses. The codec checks requests itself; these schemas only document them.
 */
export const scoreRequestWithExamples = scoreRequestSchema.meta({
  // Named examples (OpenAPI media-type `examples`, a menu in Swagger UI), through @fastify/swagger's x-examples.
  'x-examples': {
    'two samples, labels': {
      summary: 'Logits of two samples over three classes, with class-index labels',
      value: { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] },
    },
    'soft targets in bits': {
      summary: 'Probabilities with a one-hot and a soft target, figures in bits',
      value: { probabilities: [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], targets: [[1, 0, 0], [0, 0.9, 0.1]], unit: 'bits' },
    },
    'sequences with class weights, ignore_index and label smoothing': {
      summary: '[N, T, C] logits, a padded position skipped (-100), PyTorch options',
      value: {
        logits: [[[1, 2, 3], [3, 2, 1]], [[0, 0, 0], [5, -5, 0]]],
        labels: [[2, -100], [1, 0]],
        class_weights: [1, 2, 0.5],
        label_smoothing: 0.1,
      },
    },
  },
});

const aggregates = {
  sum: z.number().meta({ description: 'Sum of the per-sample losses.' }),
  cost: z.number().nullable().meta({ description: 'sum / total_weight; null when total_weight is 0.' }),
  count: z.number().int().meta({ description: 'Samples not ignored.' }),
  total_weight: z.number().meta({
    description: 'Sum of the label weights of the samples not ignored (labels), or the number of samples (targets).',
  }),
  perplexity: z
    .number()
    .nullable()
    .meta({ description: 'exp(cost in nats); null with cost, or when it exceeds the float64 range.' }),
  accuracy: z
    .number()
    .nullable()
    .meta({ description: 'Share of counted samples whose arg-max class is the label (or the target arg-max).' }),
  unit: z.enum(['nats', 'bits']),
};

/** The batch figures `include`, bytes and words add (README "Beyond one number"); each present only when asked for. */
const calibrationSchema = z.object({
  bins: z.array(
    z.object({
      lower: z.number(),
      upper: z.number(),
      count: z.number().int(),
      confidence: z.number().nullable().meta({ description: 'Mean confidence (max_c q_c) in the bin; null when empty.' }),
      accuracy: z.number().nullable().meta({ description: 'Share of the bin whose arg-max is the true class; null when empty.' }),
    }),
  ),
  ece: z.number().nullable().meta({ description: 'Σ_b (n_b/n)·|accuracy_b − confidence_b|.' }),
  mce: z.number().nullable().meta({ description: 'The largest |accuracy_b − confidence_b| over non-empty bins.' }),
});
const sequenceSchema = z.object({
  sum: z.number(),
  count: z.number().int(),
  total_weight: z.number(),
  cost: z.number().nullable(),
  perplexity: z.number().nullable(),
  bits_per_byte: z.number().nullable().optional(),
  byte_perplexity: z.number().nullable().optional(),
  word_perplexity: z.number().nullable().optional(),
});
const batchExtras = {
  mean_probability: z.number().nullable().optional().meta({ description: 'include probability: the mean q of the true class.' }),
  mean_reciprocal_rank: z.number().nullable().optional().meta({ description: 'include rank: the mean of 1/rank.' }),
  top_k_accuracy: z
    .record(z.string(), z.number().nullable())
    .optional()
    .meta({ description: 'include top_k: for each k of top_k, the share of samples whose true class ranks within k.' }),
  mean_entropy: z.number().nullable().optional().meta({ description: 'include entropy: the mean H(q), in unit.' }),
  mean_kl: z.number().nullable().optional().meta({ description: "include kl: the mean KL(t'||q), in unit." }),
  calibration: calibrationSchema.optional().meta({ description: 'include calibration: equal-width confidence bins, ece and mce.' }),
  sequences: z.array(sequenceSchema).optional().meta({ description: 'include sequences: the figures of each index of the first dimension.' }),
  mean_sequence_perplexity: z.number().nullable().optional().meta({ description: 'The mean of the per-sequence perplexities.' }),
  bits_per_byte: z.number().nullable().optional().meta({ description: 'With bytes: Σ loss in bits / Σ bytes.' }),
  byte_perplexity: z.number().nullable().optional().meta({ description: 'With bytes: 2^bits_per_byte.' }),
  word_perplexity: z.number().nullable().optional().meta({ description: 'With words: exp(Σ loss in nats / Σ words).' }),
  state: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: 'include state: the exact running figures and their options ("v": 1), for POST /merge.' }),
};

export const costResponseSchema = z
  .object({
    ...aggregates,
    ...batchExtras,
    brier: z.number().nullable().optional().meta({ description: 'include brier: the mean Brier score.' }),
  })
  .meta({
    examples: [
      {
        sum: 0.6370795392983714,
        cost: 0.3185397696491857,
        count: 2,
        total_weight: 2,
        perplexity: 1.3751183080690985,
        accuracy: 1,
        unit: 'nats',
      },
      {
        sum: 2.736449675623908,
        cost: 0.684112418905977,
        count: 4,
        total_weight: 4,
        perplexity: 1.9820118583378683,
        accuracy: 0.75,
        unit: 'nats',
        top_k_accuracy: { 1: 0.75, 2: 1 },
        calibration: {
          bins: [
            { lower: 0, upper: 0.5, count: 0, confidence: null, accuracy: null },
            { lower: 0.5, upper: 1, count: 4, confidence: 0.725, accuracy: 0.75 },
          ],
          ece: 0.024999999999999994,
          mce: 0.024999999999999994,
        },
      },
    ],
  });

export const lossResponseSchema = z
  .object({
    losses: tensorField("Per-sample losses, nested in the labels' shape (0 for ignored samples)."),
    probability: tensorField('include probability: q of the true class per sample (null where ignored).').optional(),
    rank: tensorField('include rank: 1 + the classes scored strictly higher than the true class, per sample.').optional(),
    entropy: tensorField('include entropy: H(q) per sample, in unit.').optional(),
    kl: tensorField("include kl: KL(t'||q) per sample, in unit.").optional(),
    brier: tensorField('include brier: the Brier score per sample (the mean is mean_brier).').optional(),
    ...aggregates,
    ...batchExtras,
    mean_brier: z.number().nullable().optional().meta({ description: 'include brier: the mean Brier score.' }),
  })
  .meta({
    examples: [
      {
        losses: [0.41703001627783354, 0.2200495230205378],
        sum: 0.6370795392983714,
        cost: 0.3185397696491857,
        count: 2,
        total_weight: 2,
        perplexity: 1.3751183080690985,
        accuracy: 1,
        unit: 'nats',
      },
      {
        losses: [1, 2],
        probability: [0.5, 0.25],
        rank: [1, 2],
        entropy: [1.5, 1.5],
        kl: [1, 2],
        brier: [0.375, 0.875],
        sum: 3,
        cost: 1.5,
        count: 2,
        total_weight: 2,
        perplexity: 2.82842712474619,
        accuracy: 0.5,
        unit: 'bits',
        mean_probability: 0.375,
        mean_reciprocal_rank: 0.75,
        mean_entropy: 1.5,
        mean_kl: 1.5,
        mean_brier: 0.625,
      },
    ],
  });

// Compile-time check: the documented responses and the codec's figures are the same shape, each assignable to the other.
type CostDocumented = z.infer<typeof costResponseSchema>;
type LossDocumented = Omit<z.infer<typeof lossResponseSchema>, 'losses'>;
const _costShape: [CostDocumented, CostFigures] = [{} as CostFigures, {} as CostDocumented];
const _lossShape: [LossDocumented, Omit<LossFigures, 'losses'>] = [{} as Omit<LossFigures, 'losses'>, {} as LossDocumented];

export const issueSchema = z.object({
  code: z.string(),
  pointer: z.string().meta({ description: 'RFC 6901 JSON pointer into the request body; empty for the whole body.' }),
  detail: z.string(),
});

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().meta({ description: 'Stable machine-readable error code (see the error catalog).' }),
    detail: z.string().meta({ description: 'What is wrong, led by the JSON pointer of the offending place.' }),
    pointer: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(issueSchema).optional(),
  })
  .meta({ description: 'RFC 9457 problem details' });

/**
 * The JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of a zod schema, with tensors as `NestedNumbers`. zod bounds
 * every integer by ±(2^53 − 1), which documentation tools then show as a sample value ("status":
 * -9007199254740991): those bounds say nothing here and are left out.
 */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const json = ctx.jsonSchema as Record<string, unknown>;
      if (json.minimum === -Number.MAX_SAFE_INTEGER) delete json.minimum;
      if (json.maximum === Number.MAX_SAFE_INTEGER) delete json.maximum;
      if (json['x-tensor'] === true) {
        delete json['x-tensor'];
        delete json.type;
        json.items = { $ref: '#/components/schemas/NestedNumbers' };
        json.type = 'array';
      }
    },
  }) as Record<string, unknown>;
}

/** A number or an array of NestedNumbers, to any depth. */
export const nestedNumbersComponent = {
  description: 'A number or an array of NestedNumbers: nested arrays of numbers, row-major, class dimension last.',
  anyOf: [{ type: 'number' as const }, { type: 'array' as const, items: { $ref: '#/components/schemas/NestedNumbers' } }],
};

/** The request body as the OpenAPI document shows it. */
export const scoreRequestDocument = jsonSchemaOf(scoreRequestWithExamples);

/** POST /merge's body: the states of batches, as answers with include: ["state"] give them. */
export const mergeRequestDocument = jsonSchemaOf(
  z.strictObject({ states: z.array(z.record(z.string(), z.unknown())).meta({ description: 'The states to merge, one per batch.' }) }),
);
