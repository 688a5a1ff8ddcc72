import { z } from 'zod';
import { scoreOptionsSchema } from '../../codec/fields.js';
import { FLOAT_DATATYPES, INTEGER_DATATYPES } from '../../codec/oip/datatypes.js';
import { CLASSIFIED_OUTPUTS, INPUT_NAMES, OUTPUT_NAMES } from '../../codec/oip/model.js';

/**
 * The Open Inference Protocol v2 documents, for the OpenAPI document. Requests are checked by `decodeInferenceRequest`
 * (which must also read binary tensor data and give precise messages), the options by `scoreOptionsSchema` itself.
 */

const tensorData = (description: string) => z.array(z.unknown()).meta({ description, 'x-tensor': true });
const datatype = z.enum([...FLOAT_DATATYPES, ...INTEGER_DATATYPES]);

export const tensorMetadataSchema = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int()).meta({ description: 'Dimensions; -1 is a variable dimension.' }),
});

export const serverMetadataSchema = z
  .object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) })
  .meta({ examples: [{ name: 'xent', version: '0.1.0', extensions: ['binary_tensor_data', 'classification', 'model_configuration'] }] });

const parameterValue = z.union([z.string(), z.number(), z.boolean()]);

export const modelMetadataSchema = z.object({
  name: z.string(),
  versions: z.array(z.string()),
  platform: z.string(),
  inputs: z.array(tensorMetadataSchema),
  outputs: z.array(tensorMetadataSchema),
  parameters: z.record(z.string(), parameterValue).meta({
    description:
      'Which inputs pair up: input_alternatives ("logits|probabilities,labels|targets": one of each pair), optional_inputs ' +
      '(class_weights), and a description.',
  }),
});

export const modelConfigSchema = z
  .object({
    name: z.string(),
    platform: z.string(),
    max_batch_size: z.number().int().meta({ description: '0: dims are the whole shape, with no batch dimension added.' }),
    input: z.array(
      z.object({
        name: z.string(),
        data_type: z.string().meta({ description: 'Triton type name, e.g. TYPE_FP64.' }),
        dims: z.array(z.number().int()),
        optional: z.boolean().meta({ description: 'Every input is optional alone: one of each pair is sent, class_weights may be left out.' }),
      }),
    ),
    output: z.array(z.object({ name: z.string(), data_type: z.string(), dims: z.array(z.number().int()) })),
    parameters: z.record(z.string(), z.object({ string_value: z.string() })),
  })
  .meta({ description: "Triton's model configuration (the JSON form of its ModelConfig message)" });

export const liveSchema = z.object({ live: z.boolean() });
export const readySchema = z.object({ ready: z.boolean(), error: z.string().optional() });
export const modelReadySchema = z.object({ name: z.string(), ready: z.boolean(), error: z.string().optional() });

export const inferenceErrorSchema = z
  .object({
    error: z.string().meta({
      description:
        'What is wrong, led by where: a JSON pointer into the JSON header (/inputs/0/shape) or /<tensor>/<index>... for an element of a tensor.',
    }),
    code: z.string().meta({ description: 'Stable machine-readable error code from the error catalog.' }),
  })
  .meta({ description: 'Open Inference Protocol error ({"error": ...}), with the catalog code added' });

const requestInputSchema = z.object({
  name: z.enum(INPUT_NAMES as [string, ...string[]]),
  shape: z.array(z.number().int().min(0)).meta({ description: 'Dimensions, class dimension last for logits, probabilities and targets.' }),
  datatype: datatype.meta({ description: 'FP16, BF16, FP32 or FP64 for floating-point inputs; INT32 or INT64 for labels.' }),
  parameters: z
    .object({
      binary_data_size: z
        .number()
        .int()
        .min(0)
        .optional()
        .meta({ description: 'Binary tensor data extension: the tensor is this many bytes after the JSON header.' }),
    })
    .optional(),
  data: tensorData('The values, row-major, flat or nested as the shape says; omitted for binary data.').optional(),
});

const requestOutputSchema = z.object({
  name: z.enum([...OUTPUT_NAMES, ...CLASSIFIED_OUTPUTS]).meta({
    description: 'A figure, or the input the request sends (logits or probabilities) with the parameter classification.',
  }),
  parameters: z
    .object({
      binary_data: z.boolean().optional().meta({ description: 'Send this output as binary tensor data.' }),
      datatype: z.enum(['FP64', 'FP32']).optional().meta({ description: 'losses only: FP64 (default) or FP32.' }),
      classification: z.number().int().min(0).optional().meta({
        description:
          "Triton's classification extension, on output logits or probabilities only: the k highest-valued classes of each " +
          'sample, best first (ties: lower index), as BYTES strings "<value>:<index>" of shape [samples..., min(k, C)]; 0 = none.',
      }),
    })
    .optional(),
});

/** Parameters other servers' clients send on their own: accepted and ignored. */
const ignored = (what: string) => z.unknown().optional().meta({ description: `Accepted and ignored (${what}).` });

export const inferenceRequestSchema = z
  .object({
    id: z.string().optional().meta({ description: 'Echoed in the response.' }),
    parameters: z
      .object({
        ...scoreOptionsSchema.shape,
        binary_data_output: z.boolean().optional().meta({ description: 'Send every output as binary tensor data, unless an output says otherwise.' }),
        priority: ignored("Triton's scheduling priority"),
        timeout: ignored("Triton's queue timeout"),
        sequence_id: ignored("Triton's sequence batching; its client sends it with sequence_start and sequence_end"),
        sequence_start: ignored("Triton's sequence batching"),
        sequence_end: ignored("Triton's sequence batching"),
        headers: ignored('HTTP headers MLServer forwards'),
        content_type: ignored("MLServer's codec hint"),
      })
      .optional(),
    inputs: z.array(requestInputSchema),
    outputs: z
      .array(requestOutputSchema)
      .optional()
      .meta({ description: `Which outputs to return (default all: ${OUTPUT_NAMES.join(', ')}).` }),
  })
  .meta({
    'x-examples': {
      'two samples, logits and labels': {
        summary: 'FP64 logits of two samples over three classes, INT64 labels; every output',
        value: {
          id: '42',
          inputs: [
            { name: 'logits', shape: [2, 3], datatype: 'FP64', data: [2, 1, 0.1, 0.5, 2.5, 0.3] },
            { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] },
          ],
        },
      },
      'soft targets in bits, two outputs': {
        summary: 'FP32 probabilities and soft targets, label smoothing, bits; the cost and FP32 losses only',
        value: {
          parameters: { label_smoothing: 0.1, unit: 'bits' },
          inputs: [
            { name: 'probabilities', shape: [2, 3], datatype: 'FP32', data: [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]] },
            { name: 'targets', shape: [2, 3], datatype: 'FP32', data: [[1, 0, 0], [0, 0.9, 0.1]] },
          ],
          outputs: [{ name: 'cost' }, { name: 'losses', parameters: { datatype: 'FP32' } }],
        },
      },
      'the top 2 classes of each sample': {
        summary: "Triton's classification extension: the cost, and the two best classes of each sample as \"<logit>:<index>\"",
        value: {
          inputs: [
            { name: 'logits', shape: [2, 3], datatype: 'FP64', data: [2, 1, 0.1, 0.5, 2.5, 0.3] },
            { name: 'labels', shape: [2], datatype: 'INT64', data: [0, 1] },
          ],
          outputs: [{ name: 'cost' }, { name: 'logits', parameters: { classification: 2 } }],
        },
      },
    },
  });

/**
 * A binary request, for the documentation: the JSON header, then the tensors' bytes. Its value is the body itself
 * (each byte one character), the hex dump in its description is for reading.
 */
export function binaryRequestExample(): Record<string, unknown> {
  const header = JSON.stringify({
    inputs: [
      { name: 'logits', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 24 } },
      { name: 'labels', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
    ],
    outputs: [{ name: 'cost' }],
  });
  const logits = Buffer.alloc(24);
  [2, 1, 0.125, 0.5, 2.5, 0.25].forEach((x, i) => logits.writeFloatLE(x, 4 * i));
  const labels = Buffer.alloc(16);
  [0n, 1n].forEach((x, i) => labels.writeBigInt64LE(x, 8 * i));
  const hex = (b: Buffer) => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return {
    summary: 'Two samples: FP32 logits and INT64 labels as binary tensors, the cost as JSON',
    description:
      `Send with \`Inference-Header-Content-Length: ${header.length}\` (the JSON header's length in bytes). The body is the ` +
      'JSON header, then the logits [[2, 1, 0.125], [0.5, 2.5, 0.25]] as 6 FP32 (24 bytes), then the labels [0, 1] as ' +
      '2 INT64 (16 bytes), little-endian:\n\n```\n' +
      `${header}\n${hex(logits)}\n${hex(labels)}\n\`\`\``,
    value: header + Buffer.concat([logits, labels]).toString('latin1'),
    'x-inference-header-content-length': header.length,
  };
}

const responseOutputSchema = z.object({
  name: z.string(),
  datatype: z.string(),
  shape: z.array(z.number().int()),
  parameters: z.object({ binary_data_size: z.number().int() }).optional(),
  data: z
    .array(z.union([z.number(), z.string()]))
    .optional()
    .meta({ description: 'The values, flat (strings "<value>:<index>" for a classification); absent for binary data.' }),
});

export const inferenceResponseSchema = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    parameters: z.object({ unit: z.enum(['nats', 'bits']) }),
    outputs: z.array(responseOutputSchema),
  })
  .meta({
    examples: [
      {
        model_name: 'cross_entropy',
        model_version: '1',
        id: '42',
        parameters: { unit: 'nats' },
        outputs: [
          { name: 'losses', datatype: 'FP64', shape: [2], data: [0.41703001627783354, 0.2200495230205378] },
          { name: 'sum', datatype: 'FP64', shape: [1], data: [0.6370795392983714] },
          { name: 'cost', datatype: 'FP64', shape: [1], data: [0.3185397696491857] },
          { name: 'count', datatype: 'INT64', shape: [1], data: [2] },
          { name: 'total_weight', datatype: 'FP64', shape: [1], data: [2] },
          { name: 'perplexity', datatype: 'FP64', shape: [1], data: [1.3751183080690985] },
          { name: 'accuracy', datatype: 'FP64', shape: [1], data: [1] },
        ],
      },
    ],
  });
