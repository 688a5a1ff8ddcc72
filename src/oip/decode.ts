import { MAX_DIMENSIONS, MAX_ISSUES, maxJsonNumbers } from '../http/decode.js';
import { ProblemError, type Issue } from '../http/errors.js';
import type { RequestLayout } from '../http/outcome.js';
import { escapeToken, memberPointer, pointerTo, unflatten } from '../http/pointer.js';
import { scoreOptionsSchema } from '../http/schemas.js';
import type { ScoreTask } from '../kernel/types.js';
import { INPUT_DATATYPES, INPUT_NAMES, MODEL_NAME, OUTPUT_NAMES, isFloatDatatype, type InputName, type OutputName } from './model.js';
import {
  BYTES_PER_ELEMENT,
  PROTOCOL_DATATYPES,
  decodeBinaryTensor,
  fitsIntegerDatatype,
  toFloatDatatype,
  type NumericDatatype,
} from './tensors.js';

/** One output the client asked for, and how to send it. */
export interface RequestedOutput {
  name: OutputName;
  binary: boolean;
  /** FP64 unless the client asked for FP32 losses; count is INT64. */
  datatype: 'FP64' | 'FP32' | 'INT64';
}

/** An inference request turned into the kernel's task, plus what the response must hold. */
export interface DecodedInference {
  task: ScoreTask;
  /** Where the tensors are, so that kernel findings name the tensor and the sample. */
  layout: RequestLayout;
  id: string | null;
  outputs: RequestedOutput[];
}

export interface InferenceLimits {
  /** Most numbers the logits or probabilities tensor may hold. */
  maxElements: number;
}

const TOP_LEVEL_FIELDS = new Set(['id', 'parameters', 'inputs', 'outputs', 'model_name', 'model_version']);
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const OPTION_PARAMETERS = ['ignore_index', 'label_smoothing', 'epsilon', 'unit'] as const;
/** Parameters other servers' clients send routinely (Triton's scheduling hints, MLServer's codec hint): accepted, unused. */
const IGNORED_REQUEST_PARAMETERS = ['priority', 'timeout', 'content_type'];
const REQUEST_PARAMETERS = [...OPTION_PARAMETERS, 'binary_data_output', ...IGNORED_REQUEST_PARAMETERS];
const INPUT_FIELDS = new Set(['name', 'shape', 'datatype', 'parameters', 'data']);
const INPUT_PARAMETERS = ['binary_data_size', 'content_type'];
const OUTPUT_FIELDS = new Set(['name', 'parameters']);
const OUTPUT_PARAMETERS = ['binary_data', 'datatype'];

/** One input tensor as the JSON header describes it, checked. */
interface InputSpec {
  name: InputName;
  /** Position in `inputs`, for pointers into the header. */
  position: number;
  datatype: NumericDatatype;
  shape: number[];
  elements: number;
  data: unknown;
  /** Declared binary_data_size, or null when the data is JSON. */
  binarySize: number | null;
  /** Where the binary data starts in the body, once the layout is known. */
  offset: number;
}

/**
 * Reads an Open Inference Protocol inference request: the JSON header (the first `Inference-Header-Content-Length`
 * bytes of the body, or all of it), then each input's data, as JSON (flat or nested, checked against `shape`) or as
 * binary tensor data following the header in the order of the inputs. Every size is checked against the shapes,
 * datatypes and the body before any tensor is allocated. Throws a ProblemError naming the place of each problem:
 * a JSON pointer into the header (`/inputs/0/shape`), or `/<tensor>/<index>...` for an element of a tensor, as the
 * JSON API does. Value-domain checks (finite logits, probabilities in range, labels) stay the kernel's.
 */
export function decodeInferenceRequest(body: Buffer, headerLengthHeader: string | string[] | undefined, limits: InferenceLimits): DecodedInference {
  const headerLength = readHeaderLength(headerLengthHeader, body.length);
  const header = parseHeader(body, headerLength);
  const issues: Issue[] = [];

  for (const key of Object.keys(header)) {
    if (FORBIDDEN_KEYS.has(key)) {
      issues.push({ code: 'XENT_FORBIDDEN_KEY', pointer: pointerTo(key), detail: `the key "${key}" is not allowed` });
    } else if (!TOP_LEVEL_FIELDS.has(key)) {
      issues.push({
        code: 'XENT_UNKNOWN_FIELD',
        pointer: memberPointer('', key),
        detail: `unknown field "${excerpt(key)}"; an inference request has id, parameters, inputs and outputs`,
      });
    }
  }
  const id = present(header, 'id');
  if (id !== undefined && typeof id !== 'string') {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer: '/id', detail: `id must be a string, got ${describe(id)}` });
  }
  const modelName = present(header, 'model_name');
  if (modelName !== undefined && modelName !== MODEL_NAME) {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer: '/model_name', detail: `model_name must be "${MODEL_NAME}" (the model in the URL), got ${describe(modelName)}` });
  }

  const parameters = readParameters(present(header, 'parameters'), '/parameters', REQUEST_PARAMETERS, 'request', issues);
  const binaryDefault = readBoolean(parameters, 'binary_data_output', '/parameters', issues) ?? false;
  const outputs = readOutputs(present(header, 'outputs'), binaryDefault, issues);
  const specs = readInputs(present(header, 'inputs'), issues);
  throwIfAny(issues);

  const inputSpec = exactlyOne(specs, 'logits', 'probabilities', issues);
  const truthSpec = exactlyOne(specs, 'labels', 'targets', issues);
  const options = scoreOptionsSchema.safeParse({
    ignore_index: parameters.ignore_index,
    label_smoothing: parameters.label_smoothing,
    epsilon: parameters.epsilon,
    unit: parameters.unit,
  });
  if (!options.success) {
    for (const issue of options.error.issues) {
      issues.push({ code: 'XENT_INVALID_OPTION', pointer: `/parameters/${escapeToken(String(issue.path[0]))}`, detail: issue.message });
    }
  }
  if (inputSpec?.name === 'logits' && parameters.epsilon !== undefined) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: '/parameters/epsilon', detail: 'epsilon applies to probabilities only' });
  }
  if (truthSpec?.name === 'targets' && parameters.ignore_index !== undefined) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: '/parameters/ignore_index', detail: 'ignore_index applies to labels only' });
  }
  throwIfAny(issues);
  if (inputSpec === null || truthSpec === null || !options.success) throw new Error('unreachable: issues were reported');

  checkInputShape(inputSpec, limits.maxElements, issues);
  throwIfAny(issues);
  const shape = inputSpec.shape;
  const classes = shape[shape.length - 1]!;
  const weightSpec = specs.get('class_weights') ?? null;
  checkShape(truthSpec, truthSpec.name === 'labels' ? shape.slice(0, -1) : shape, inputSpec, issues);
  if (weightSpec !== null) checkShape(weightSpec, [classes], inputSpec, issues);
  throwIfAny(issues);

  layOutBinaryData([...specs.values()].sort((a, b) => a.position - b.position), body.length, headerLength, issues);
  throwIfAny(issues);

  const input = readTensor(body, headerLength ?? body.length, inputSpec, issues);
  const truth = readTensor(body, headerLength ?? body.length, truthSpec, issues);
  const weights = weightSpec === null ? null : readTensor(body, headerLength ?? body.length, weightSpec, issues);
  throwIfAny(issues);

  const o = options.data;
  return {
    task: {
      kind: inputSpec.name === 'logits' ? 'logits' : 'probabilities',
      rows: inputSpec.elements / classes,
      classes,
      input: input!,
      labels: truthSpec.name === 'labels' ? truth! : null,
      targets: truthSpec.name === 'targets' ? truth! : null,
      classWeights: weights,
      ignoreIndex: o.ignore_index ?? -100,
      labelSmoothing: o.label_smoothing ?? 0,
      epsilon: o.epsilon ?? 0,
      unit: o.unit ?? 'nats',
    },
    layout: {
      shape,
      inputField: inputSpec.name === 'logits' ? 'logits' : 'probabilities',
      truthField: truthSpec.name === 'labels' ? 'labels' : 'targets',
    },
    id: typeof id === 'string' ? id : null,
    outputs,
  };
}

/** The JSON header's length from `Inference-Header-Content-Length`, or null when the whole body is JSON. */
function readHeaderLength(value: string | string[] | undefined, bodyLength: number): number | null {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value.join(', ') : value.trim();
  if (!/^\d{1,15}$/.test(text)) {
    throw ProblemError.of('XENT_INVALID_BINARY_DATA', '', `Inference-Header-Content-Length must be a byte count, got "${excerpt(text)}"`);
  }
  const length = Number(text);
  if (length > bodyLength) {
    throw ProblemError.of(
      'XENT_INVALID_BINARY_DATA',
      '',
      `Inference-Header-Content-Length is ${length}, but the body has only ${bodyLength} bytes`,
    );
  }
  return length;
}

function parseHeader(body: Buffer, headerLength: number | null): Record<string, unknown> {
  const end = headerLength ?? body.length;
  if (end === 0) {
    throw ProblemError.of('XENT_INVALID_JSON', '', headerLength === null ? 'the body is empty' : 'the JSON header is empty (Inference-Header-Content-Length is 0)');
  }
  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', 0, end));
  } catch (err) {
    const message = err instanceof Error ? err.message : 'unparseable';
    const hint =
      headerLength === null && /after JSON/.test(message)
        ? '; a body with binary tensor data needs the Inference-Header-Content-Length header'
        : headerLength !== null
          ? ` (in the first ${headerLength} bytes, as Inference-Header-Content-Length says)`
          : '';
    throw ProblemError.of('XENT_INVALID_JSON', '', `${message.length <= 200 ? message : `${message.slice(0, 200)}…`}${hint}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw ProblemError.of('XENT_INVALID_BODY', '', `the inference request must be a JSON object, got ${describe(header)}`);
  }
  return header as Record<string, unknown>;
}

/** The value of an optional field; null counts as absent (some clients write every optional field as null). */
function present(fields: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(fields, key) && fields[key] !== null ? fields[key] : undefined;
}

/** A `parameters` object: every key known, values null dropped. */
function readParameters(value: unknown, pointer: string, known: readonly string[], what: string, issues: Issue[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (value === undefined) return out;
  if (typeof value !== 'object' || Array.isArray(value) || value === null) {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer, detail: `parameters must be an object, got ${describe(value)}` });
    return out;
  }
  for (const [key, v] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(key)) {
      issues.push({ code: 'XENT_FORBIDDEN_KEY', pointer: memberPointer(pointer, key), detail: `the key "${key}" is not allowed` });
    } else if (!known.includes(key)) {
      issues.push({
        code: 'XENT_UNKNOWN_FIELD',
        pointer: memberPointer(pointer, key),
        detail: `unknown ${what} parameter "${excerpt(key)}"; the ${what} parameters are ${known.join(', ')}`,
      });
    } else if (v !== null) {
      out[key] = v;
    }
  }
  return out;
}

function readBoolean(parameters: Record<string, unknown>, key: string, pointer: string, issues: Issue[]): boolean | undefined {
  const v = parameters[key];
  if (v === undefined || typeof v === 'boolean') return v;
  issues.push({ code: 'XENT_INVALID_OPTION', pointer: `${pointer}/${key}`, detail: `${key} must be a boolean, got ${describe(v)}` });
  return undefined;
}

function readOutputs(value: unknown, binaryDefault: boolean, issues: Issue[]): RequestedOutput[] {
  const all = () => OUTPUT_NAMES.map((name) => ({ name, binary: binaryDefault, datatype: name === 'count' ? 'INT64' : 'FP64' }) as const);
  if (value === undefined) return all();
  if (!Array.isArray(value)) {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer: '/outputs', detail: `outputs must be an array, got ${describe(value)}` });
    return [];
  }
  if (value.length === 0) return all();
  const outputs: RequestedOutput[] = [];
  const seen = new Map<string, number>();
  value.forEach((entry: unknown, i) => {
    const at = `/outputs/${i}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      issues.push({ code: 'XENT_BAD_REQUEST', pointer: at, detail: `an output must be an object with a name, got ${describe(entry)}` });
      return;
    }
    const fields = entry as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!OUTPUT_FIELDS.has(key)) {
        issues.push({ code: 'XENT_UNKNOWN_FIELD', pointer: memberPointer(at, key), detail: `unknown field "${excerpt(key)}"; an output has name and parameters` });
      }
    }
    const name = fields.name;
    if (typeof name !== 'string') {
      issues.push({ code: 'XENT_MISSING_FIELD', pointer: `${at}/name`, detail: `an output needs a name, got ${describe(name)}` });
      return;
    }
    if (!(OUTPUT_NAMES as readonly string[]).includes(name)) {
      issues.push({ code: 'XENT_UNKNOWN_FIELD', pointer: `${at}/name`, detail: `unknown output "${excerpt(name)}"; the outputs are ${OUTPUT_NAMES.join(', ')}` });
      return;
    }
    if (seen.has(name)) {
      issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: `${at}/name`, detail: `output "${name}" is requested twice (outputs ${seen.get(name)} and ${i})` });
      return;
    }
    seen.set(name, i);
    const parameters = readParameters(present(fields, 'parameters'), `${at}/parameters`, OUTPUT_PARAMETERS, 'output', issues);
    const binary = readBoolean(parameters, 'binary_data', `${at}/parameters`, issues) ?? binaryDefault;
    let datatype: RequestedOutput['datatype'] = name === 'count' ? 'INT64' : 'FP64';
    const asked = parameters.datatype;
    if (asked !== undefined) {
      if (name !== 'losses') {
        issues.push({ code: 'XENT_INVALID_OPTION', pointer: `${at}/parameters/datatype`, detail: `datatype applies to losses only; ${name} is ${datatype}` });
      } else if (asked === 'FP32' || asked === 'FP64') {
        datatype = asked;
      } else {
        issues.push({ code: 'XENT_INVALID_OPTION', pointer: `${at}/parameters/datatype`, detail: `losses can be FP64 or FP32, got ${describe(asked)}` });
      }
    }
    outputs.push({ name: name as OutputName, binary, datatype });
  });
  return outputs;
}

/** The inputs by name, each checked for a known name, a datatype it accepts, a shape of integers and one data source. */
function readInputs(value: unknown, issues: Issue[]): Map<InputName, InputSpec> {
  const specs = new Map<InputName, InputSpec>();
  if (value === undefined) {
    issues.push({ code: 'XENT_MISSING_FIELD', pointer: '/inputs', detail: 'inputs is required: logits or probabilities, labels or targets, and optionally class_weights' });
    return specs;
  }
  if (!Array.isArray(value)) {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer: '/inputs', detail: `inputs must be an array, got ${describe(value)}` });
    return specs;
  }
  const positions = new Map<string, number>();
  value.forEach((entry: unknown, i) => {
    const at = `/inputs/${i}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      issues.push({ code: 'XENT_BAD_REQUEST', pointer: at, detail: `an input must be an object, got ${describe(entry)}` });
      return;
    }
    const fields = entry as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!INPUT_FIELDS.has(key)) {
        issues.push({
          code: 'XENT_UNKNOWN_FIELD',
          pointer: memberPointer(at, key),
          detail: `unknown field "${excerpt(key)}"; an input has name, shape, datatype, parameters and data`,
        });
      }
    }
    const name = fields.name;
    if (typeof name !== 'string') {
      issues.push({ code: 'XENT_MISSING_FIELD', pointer: `${at}/name`, detail: `an input needs a name, got ${describe(name)}` });
      return;
    }
    if (!(INPUT_NAMES as string[]).includes(name)) {
      issues.push({ code: 'XENT_UNKNOWN_FIELD', pointer: `${at}/name`, detail: `unknown input "${excerpt(name)}"; the inputs are ${INPUT_NAMES.join(', ')}` });
      return;
    }
    if (positions.has(name)) {
      issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: `${at}/name`, detail: `input "${name}" is given twice (inputs ${positions.get(name)} and ${i})` });
      return;
    }
    positions.set(name, i);
    const spec = readInput(name as InputName, i, fields, issues);
    if (spec !== null) specs.set(spec.name, spec);
  });
  return specs;
}

function readInput(name: InputName, position: number, fields: Record<string, unknown>, issues: Issue[]): InputSpec | null {
  const at = `/inputs/${position}`;
  const before = issues.length;

  const datatype = fields.datatype;
  const accepted = INPUT_DATATYPES[name];
  if (typeof datatype !== 'string') {
    issues.push({ code: 'XENT_MISSING_FIELD', pointer: `${at}/datatype`, detail: `input "${name}" needs a datatype (${accepted.join(', ')}), got ${describe(datatype)}` });
  } else if (!(accepted as readonly string[]).includes(datatype)) {
    const known = Object.hasOwn(PROTOCOL_DATATYPES, datatype);
    issues.push({
      code: 'XENT_UNSUPPORTED_DATATYPE',
      pointer: `${at}/datatype`,
      detail: `${known ? `input "${name}" cannot be ${datatype}` : `"${excerpt(datatype)}" is not an Open Inference Protocol datatype`}; input "${name}" accepts ${accepted.join(', ')}`,
    });
  }

  const shape = fields.shape;
  let elements = 1;
  if (!Array.isArray(shape)) {
    issues.push({ code: 'XENT_MISSING_FIELD', pointer: `${at}/shape`, detail: `input "${name}" needs a shape (an array of dimensions), got ${describe(shape)}` });
  } else {
    const bad = shape.findIndex((d) => !(typeof d === 'number' && Number.isSafeInteger(d) && d >= 0));
    if (shape.length > MAX_DIMENSIONS) {
      issues.push({ code: 'XENT_INVALID_SHAPE', pointer: `${at}/shape`, detail: `input "${name}" has ${shape.length} dimensions; at most ${MAX_DIMENSIONS} are supported` });
    } else if (bad >= 0) {
      issues.push({ code: 'XENT_INVALID_SHAPE', pointer: `${at}/shape/${bad}`, detail: `input "${name}": a dimension must be a non-negative integer, got ${describe(shape[bad])}` });
    } else {
      for (const d of shape as number[]) elements *= d;
    }
  }

  const parameters = readParameters(present(fields, 'parameters'), `${at}/parameters`, INPUT_PARAMETERS, 'input', issues);
  const size = parameters.binary_data_size;
  let binarySize: number | null = null;
  if (size !== undefined) {
    if (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) binarySize = size;
    else issues.push({ code: 'XENT_INVALID_BINARY_DATA', pointer: `${at}/parameters/binary_data_size`, detail: `binary_data_size must be a byte count, got ${describe(size)}` });
  }
  const hasData = present(fields, 'data') !== undefined;
  if (size !== undefined && hasData) {
    issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: `${at}/data`, detail: `input "${name}" has both data and binary_data_size; give one` });
  } else if (size === undefined && !hasData) {
    issues.push({ code: 'XENT_MISSING_FIELD', pointer: at, detail: `input "${name}" has neither data nor parameters.binary_data_size` });
  }

  if (issues.length > before) return null;
  return { name, position, datatype: datatype as NumericDatatype, shape: shape as number[], elements, data: fields.data, binarySize, offset: 0 };
}

function exactlyOne(specs: Map<InputName, InputSpec>, a: InputName, b: InputName, issues: Issue[]): InputSpec | null {
  const sa = specs.get(a);
  const sb = specs.get(b);
  if (sa !== undefined && sb !== undefined) {
    issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: `/inputs/${sb.position}`, detail: `give either ${a} or ${b}, not both` });
    return null;
  }
  if (sa === undefined && sb === undefined) {
    issues.push({ code: 'XENT_MISSING_FIELD', pointer: '/inputs', detail: `one of ${a} or ${b} is required` });
    return null;
  }
  return sa ?? sb!;
}

/** The input tensor: at least [N, C], no empty dimension, within the element limit (checked before any allocation). */
function checkInputShape(spec: InputSpec, maxElements: number, issues: Issue[]): void {
  const { shape, name } = spec;
  const at = `/inputs/${spec.position}/shape`;
  if (shape.length < 2) {
    issues.push({
      code: 'XENT_INVALID_SHAPE',
      pointer: at,
      detail: `input "${name}" has shape [${shape.join(', ')}]; expected at least 2 dimensions [N, C] with the class dimension last`,
    });
    return;
  }
  const empty = shape.indexOf(0);
  if (empty >= 0) {
    const what = empty === 0 ? 'the batch is empty' : empty === shape.length - 1 ? 'no classes' : 'an empty dimension';
    issues.push({ code: 'XENT_EMPTY_INPUT', pointer: `${at}/${empty}`, detail: `${what}: every dimension needs at least one entry` });
    return;
  }
  if (spec.elements > maxElements) {
    throw ProblemError.of('XENT_TOO_MANY_ELEMENTS', at, `${spec.elements} numbers (shape [${shape.join(', ')}]) exceed the limit of ${maxElements}`);
  }
}

function checkShape(spec: InputSpec, expected: number[], input: InputSpec, issues: Issue[]): void {
  if (spec.shape.length === expected.length && spec.shape.every((d, i) => d === expected[i])) return;
  const why =
    spec.name === 'labels'
      ? `the shape of ${input.name} without its class dimension`
      : spec.name === 'targets'
        ? `the shape of ${input.name}`
        : `one weight per class of ${input.name}`;
  issues.push({
    code: 'XENT_INVALID_SHAPE',
    pointer: `/inputs/${spec.position}/shape`,
    detail: `input "${spec.name}" has shape [${spec.shape.join(', ')}]; expected [${expected.join(', ')}] (${why})`,
  });
}

/**
 * Binary tensor data follows the JSON header in the order of the inputs that declare binary_data_size. Each declared
 * size must be what the shape and datatype take, and together they must fill the rest of the body exactly.
 */
function layOutBinaryData(specs: InputSpec[], bodyLength: number, headerLength: number | null, issues: Issue[]): void {
  const binary = specs.filter((s) => s.binarySize !== null);
  for (const s of binary) {
    const width = BYTES_PER_ELEMENT[s.datatype];
    const expected = s.elements * width;
    if (s.binarySize !== expected) {
      issues.push({
        code: 'XENT_INVALID_BINARY_DATA',
        pointer: `/inputs/${s.position}/parameters/binary_data_size`,
        detail: `input "${s.name}" declares ${s.binarySize} bytes of binary data, but shape [${s.shape.join(', ')}] of ${s.datatype} takes ${expected} (${s.elements} × ${width} bytes)`,
      });
    }
  }
  if (issues.length > 0) return;
  if (headerLength === null) {
    if (binary.length > 0) {
      issues.push({
        code: 'XENT_INVALID_BINARY_DATA',
        pointer: `/inputs/${binary[0]!.position}/parameters/binary_data_size`,
        detail: `input "${binary[0]!.name}" has binary data, but the request has no Inference-Header-Content-Length header to say where the JSON header ends`,
      });
    }
    return;
  }
  const available = bodyLength - headerLength;
  let cursor = 0;
  for (const s of binary) {
    const end = cursor + s.binarySize!;
    if (end > available) {
      issues.push({
        code: 'XENT_INVALID_BINARY_DATA',
        pointer: `/inputs/${s.position}/parameters/binary_data_size`,
        detail: `the body is truncated: input "${s.name}" needs ${s.binarySize} bytes at offset ${cursor} of the binary data after the ${headerLength}-byte JSON header, but the binary data has only ${available} bytes`,
      });
      return;
    }
    s.offset = headerLength + cursor;
    cursor = end;
  }
  if (cursor < available) {
    issues.push({
      code: 'XENT_INVALID_BINARY_DATA',
      pointer: '',
      detail: `${available - cursor} bytes after the binary tensor data belong to no input: the inputs declare ${cursor} bytes of binary data and the body has ${available} after the ${headerLength}-byte JSON header`,
    });
  }
}

/** A tensor's values as float64, from the binary data or from JSON data converted to the declared datatype. */
function readTensor(body: Buffer, headerLength: number, spec: InputSpec, issues: Issue[]): Float64Array | null {
  if (spec.binarySize !== null) return decodeBinaryTensor(body, spec.offset, spec.elements, spec.datatype);
  // A shape promising more numbers than the JSON header can hold is found ragged by the walk over the values,
  // without first allocating what it promised.
  return readJsonTensor(spec, maxJsonNumbers(headerLength), issues);
}

/**
 * JSON tensor data, flat (row-major) or nested as the shape says, into a Float64Array of the shape's size in one pass.
 * Each number becomes a value of the declared datatype, as a server holding the tensor in that type would have it:
 * FP32, FP16 and BF16 round to nearest (ties to even), a value beyond the type's range is an error, and integer
 * types take integers only.
 */
function readJsonTensor(spec: InputSpec, capacity: number, issues: Issue[]): Float64Array | null {
  const { name, shape, elements, datatype, data } = spec;
  const before = issues.length;
  if (!Array.isArray(data)) {
    issues.push({ code: 'XENT_INVALID_SHAPE', pointer: `/inputs/${spec.position}/data`, detail: `input "${name}": data must be an array, got ${describe(data)}` });
    return null;
  }
  const nested = shape.length > 1 && Array.isArray(data[0]);
  if (!nested && data.length !== elements) {
    issues.push({
      code: 'XENT_INVALID_SHAPE',
      pointer: `/inputs/${spec.position}/data`,
      detail: `input "${name}" has ${data.length} values, but shape [${shape.join(', ')}] holds ${elements}`,
    });
    return null;
  }

  const out = new Float64Array(Math.min(elements, capacity)); // past the end, writes fall off and the walk reports
  const isFloat = isFloatDatatype(datatype);
  let offset = 0;
  const put = (x: unknown, at: () => number[]): void => {
    if (typeof x === 'number' && Number.isFinite(x)) {
      if (isFloat) {
        const v = toFloatDatatype(x, datatype);
        if (Number.isFinite(v)) {
          out[offset++] = v;
          return;
        }
        issues.push({ code: 'XENT_NUMBER_OUT_OF_RANGE', pointer: pointerTo(name, at()), detail: `${x} is outside the ${datatype} range` });
      } else if (!Number.isInteger(x)) {
        issues.push({ code: 'XENT_LABEL_NOT_INTEGER', pointer: pointerTo(name, at()), detail: `label ${x} is not an integer` });
      } else if (!fitsIntegerDatatype(x, datatype as 'INT32' | 'INT64')) {
        issues.push({ code: 'XENT_NUMBER_OUT_OF_RANGE', pointer: pointerTo(name, at()), detail: `${x} is outside the ${datatype} range` });
      } else {
        out[offset++] = x;
        return;
      }
    } else {
      issues.push(
        typeof x === 'number'
          ? { code: 'XENT_NUMBER_OUT_OF_RANGE', pointer: pointerTo(name, at()), detail: 'the number is outside the float64 range' }
          : { code: 'XENT_INVALID_NUMBER', pointer: pointerTo(name, at()), detail: `expected a number, got ${describe(x)}` },
      );
    }
    offset++;
  };

  if (!nested) {
    for (let i = 0; i < elements && issues.length < MAX_ISSUES; i++) put(data[i], () => unflatten(i, shape));
    return issues.length > before ? null : complete(out, elements, capacity);
  }

  const path: number[] = [];
  const last = shape.length - 1;
  const walk = (v: unknown, depth: number): void => {
    const size = shape[depth]!;
    if (!Array.isArray(v) || v.length !== size) {
      const got = Array.isArray(v) ? `an array of length ${v.length}` : describe(v);
      issues.push({
        code: 'XENT_INVALID_SHAPE',
        pointer: pointerTo(name, path),
        detail: `expected an array of length ${size} (shape [${shape.join(', ')}]), got ${got}`,
      });
      let stride = 1;
      for (let d = depth; d < shape.length; d++) stride *= shape[d]!;
      offset += stride;
      return;
    }
    if (depth === last) {
      for (let i = 0; i < size && issues.length < MAX_ISSUES; i++) put(v[i], () => [...path, i]);
      return;
    }
    for (let i = 0; i < size && issues.length < MAX_ISSUES; i++) {
      path.push(i);
      walk(v[i], depth + 1);
      path.pop();
    }
  };
  walk(data, 0);
  return issues.length > before ? null : complete(out, elements, capacity);
}

/** The tensor, once every value has been read: it cannot be shorter than its shape, since the header held the data. */
function complete(out: Float64Array, elements: number, capacity: number): Float64Array {
  if (out.length !== elements) throw new Error(`unreachable: ${elements} values read from a header that holds at most ${capacity}`);
  return out;
}

function throwIfAny(issues: Issue[]): void {
  if (issues.length > 0) throw new ProblemError(issues.slice(0, MAX_ISSUES) as [Issue, ...Issue[]]);
}

/** A short description of a JSON value for error messages; never more than a bounded excerpt of it. */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string':
      return `a string ("${excerpt(v)}")`;
    case 'number':
    case 'boolean':
      return `a ${typeof v} (${v})`;
    default:
      return 'an object';
  }
}

function excerpt(s: string, max = 40): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

