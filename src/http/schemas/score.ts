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

export const costResponseSchema = z.object(aggregates).meta({
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
  ],
});

export const lossResponseSchema = z
  .object({
    losses: tensorField("Per-sample losses, nested in the labels' shape (0 for ignored samples)."),
    ...aggregates,
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
