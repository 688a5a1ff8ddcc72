import { z } from 'zod';

/**
 * The request and response schemas: the single source for the TypeScript types, the option checks and the OpenAPI
 * document. Tensors (nested arrays of numbers of any depth) are checked by `readTensor` in one pass straight into
 * typed arrays, which a generic validator cannot do at 400 000 numbers a request; here they are declared for the
 * types and the document only, as a reference to the recursive `NestedNumbers` component.
 */
const tensor = (description: string) => z.array(z.unknown()).meta({ description, 'x-tensor': true });

export const scoreRequestSchema = z
  .strictObject({
    logits: tensor(
      'Unnormalised scores, class dimension last: shape [N][C], [N][T][C] or more leading dimensions. Finite numbers.',
    ).optional(),
    probabilities: tensor(
      'Probabilities, class dimension last, same shapes as logits. Each value in [0, 1], each row summing to 1 within 1e-4.',
    ).optional(),
    labels: tensor(
      "Class indices (integers), the input's shape without its class dimension. A label equal to ignore_index is skipped.",
    ).optional(),
    targets: tensor(
      'One-hot or soft target distributions, same shape as the input; finite and >= 0, used as given (not renormalised).',
    ).optional(),
    class_weights: z
      .array(z.number())
      .optional()
      .meta({ description: 'A weight per class (length C), finite and >= 0, as PyTorch `weight`.' }),
    ignore_index: z
      .number()
      .int()
      .optional()
      .meta({ description: 'Label value whose samples are skipped (labels only). Default -100, as PyTorch.' }),
    label_smoothing: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .meta({ description: 'Label smoothing epsilon in [0, 1], as PyTorch. Default 0.' }),
    epsilon: z
      .number()
      .min(0)
      .max(0.5)
      .optional()
      .meta({
        description: 'Probabilities only: clip each p to [epsilon, 1 - epsilon] before the log (float64, as numpy.clip). Default 0.',
      }),
    unit: z.enum(['nats', 'bits']).optional().meta({ description: 'Unit of every loss figure. Default nats.' }),
  })
  .meta({
    examples: [
      { logits: [[2, 1, 0.1], [0.5, 2.5, 0.3]], labels: [0, 1] },
      { probabilities: [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], targets: [[1, 0, 0], [0, 0.9, 0.1]], unit: 'bits' },
      {
        logits: [[[1, 2, 3], [3, 2, 1]], [[0, 0, 0], [5, -5, 0]]],
        labels: [[2, -100], [1, 0]],
        class_weights: [1, 2, 0.5],
        label_smoothing: 0.1,
      },
    ],
  });

export type ScoreRequest = z.infer<typeof scoreRequestSchema>;

/** The scalar options, checked by zod itself. */
export const scoreOptionsSchema = scoreRequestSchema.pick({
  ignore_index: true,
  label_smoothing: true,
  epsilon: true,
  unit: true,
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
    losses: tensor("Per-sample losses, nested in the labels' shape (0 for ignored samples)."),
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

export type CostResponse = z.infer<typeof costResponseSchema>;
export type LossResponse = Omit<z.infer<typeof lossResponseSchema>, 'losses'> & { losses: NestedNumbers };
export type NestedNumbers = number | NestedNumbers[];

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

/** The JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of a zod schema, with tensors as `NestedNumbers`. */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const json = ctx.jsonSchema as Record<string, unknown>;
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
