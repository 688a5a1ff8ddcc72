import { escapeToken, pointerTo } from '../pointer.js';
import { checkKeys, ProblemError, throwIfAny, throwIssues, type ErrorCode, type Issue } from '../problems.js';
import { OPTION_NAMES } from '../fields.js';
import { parseJson } from '../json/scan.js';
import { buildTask, checkPartScope, checkSequenceScope, checkTextLengths, expectedShape, pickParts, resolveClassAxis, resolveOptions, shapeHint, whyShape, type DecodedTask, type GivenOptions, type InputField, type OtherTensor } from '../task.js';
import { checkInputShape, MAX_DIMENSIONS, maxJsonNumbers, readFlatTensor, readNestedTensor, type ElementReader } from '../tensor.js';
import { describe, excerpt } from '../text.js';
import { beginTensors } from '../tensorBuffers.js';
import { MAX_CLASSIFICATION_STRINGS } from './classification.js';
import { availableOutputs, CLASSIFIED_OUTPUTS, INPUT_DATATYPES, INPUT_NAMES, MODEL_NAME, OUTPUT_DATATYPES, OUTPUT_NAMES, type ClassifiedOutput, type InputName, type OutputName } from './model.js';
import { BYTES_PER_ELEMENT, PROTOCOL_DATATYPES, decodeBinaryTensor, fitsIntegerDatatype, toFloatDatatype, type FloatDatatype, type IntegerDatatype, type NumericDatatype } from './datatypes.js';

/** One output the client asked for, and how to send it. */
export interface RequestedOutput {
  /** A figure, or the model output itself (logits or probabilities) as a classification. */
  name: OutputName | ClassifiedOutput;
  binary: boolean;
  /** As OUTPUTS says, or FP32 for losses when the client asked for it; a classification is BYTES. */
  datatype: 'FP64' | 'FP32' | 'INT64' | 'BYTES';
  /** Triton's classification extension: the k best classes of each sample (0 for the figures). */
  classes: number;
}

/** An inference request turned into the kernel's task (and its layout), plus what the response must hold. */
export interface DecodedInference extends DecodedTask {
  id: string | null;
  outputs: RequestedOutput[];
}

export interface InferenceLimits {
  /** Most numbers the logits or probabilities tensor may hold. */
  maxElements: number;
}

const TOP_LEVEL_FIELDS = new Set(['id', 'parameters', 'inputs', 'outputs', 'model_name', 'model_version']);
/**
 * Parameters other servers' clients send on their own, accepted and unused: Triton's scheduling hints and sequence
 * fields (its Python client sends sequence_id, sequence_start and sequence_end whenever a sequence id is given),
 * MLServer's codec hint and the HTTP headers it forwards. Triton reserves these names (extension_parameters.md), so
 * they never carry an option of ours.
 */
const IGNORED_REQUEST_PARAMETERS = ['priority', 'timeout', 'sequence_id', 'sequence_start', 'sequence_end', 'headers', 'content_type'];
const OWN_REQUEST_PARAMETERS = [...OPTION_NAMES, 'binary_data_output'];
const REQUEST_PARAMETERS = [...OWN_REQUEST_PARAMETERS, ...IGNORED_REQUEST_PARAMETERS];
const INPUT_FIELDS = new Set(['name', 'shape', 'datatype', 'parameters', 'data']);
const INPUT_PARAMETERS = ['binary_data_size', 'content_type'];
const OUTPUT_FIELDS = new Set(['name', 'parameters']);
const OUTPUT_PARAMETERS = ['binary_data', 'datatype', 'classification'];

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
export function decodeInferenceRequest(body: Uint8Array, headerLengthHeader: string | string[] | undefined, limits: InferenceLimits): DecodedInference {
  beginTensors();
  const headerLength = readHeaderLength(headerLengthHeader, body.length);
  const header = parseHeader(body, headerLength, limits);
  const issues: Issue[] = [];

  checkKeys(header, '', (key) => TOP_LEVEL_FIELDS.has(key), (key) => `unknown field "${excerpt(key)}"; an inference request has id, parameters, inputs and outputs`, issues);
  const id = present(header, 'id');
  if (id !== undefined && typeof id !== 'string') {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer: '/id', detail: `id must be a string, got ${describe(id)}` });
  }
  const modelName = present(header, 'model_name');
  if (modelName !== undefined && modelName !== MODEL_NAME) {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer: '/model_name', detail: `model_name must be "${MODEL_NAME}" (the model in the URL), got ${describe(modelName)}` });
  }

  const parameters = readParameters(present(header, 'parameters'), '/parameters', REQUEST_PARAMETERS, 'request', issues, (key) =>
    `unknown request parameter "${excerpt(key)}"; the request parameters are ${OWN_REQUEST_PARAMETERS.join(', ')} (and ${IGNORED_REQUEST_PARAMETERS.join(', ')}, which other servers' clients send, are accepted and ignored)`,
  );
  const binaryDefault = readBoolean(parameters, 'binary_data_output', '/parameters', issues) ?? false;
  const requested = readOutputs(present(header, 'outputs'), binaryDefault, issues);
  const specs = readInputs(present(header, 'inputs'), issues);
  throwIfAny(issues);

  const has = (name: InputName) => specs.has(name);
  const at = (name: InputName) => `/inputs/${specs.get(name)?.position ?? ''}`;
  const { input: inputName, truth: truthName } = pickParts(has, at, '/inputs', issues);
  if (inputName !== null && requested !== null) checkClassifiedInput(requested, inputName, issues);
  const options = resolveOptions(parameters as GivenOptions, inputName, truthName, (name) => `/parameters/${escapeToken(name)}`, issues);
  checkPartScope(inputName, has, (name) => at(name as InputName), issues);
  if (issues.length > 0 || inputName === null || options === null || (truthName === null && inputName !== 'target_log_probs')) throwIssues(issues);

  const logProbs = inputName === 'target_log_probs';
  const inputSpec = specs.get(inputName)!;
  const shape = inputSpec.shape;
  const shapeAt = `/inputs/${inputSpec.position}/shape`;
  if (shape.length < (logProbs ? 1 : 2)) {
    issues.push({
      code: 'XENT_INVALID_SHAPE',
      pointer: shapeAt,
      detail: logProbs
        ? `input "${inputName}" has shape []; expected at least 1 dimension`
        : `input "${inputName}" has shape [${shape.join(', ')}]; expected at least 2 dimensions [N, C] (the class dimension last, or where class_dim says)`,
    });
  } else {
    checkInputShape(shape, limits.maxElements, shapeAt, (axis) => `${shapeAt}/${axis}`, issues);
  }
  throwIfAny(issues);
  const classAxis = logProbs ? null : resolveClassAxis(options.classDim, shape.length, inputName, '/parameters/class_dim', issues);
  if (!logProbs && classAxis === null) throwIssues(issues);
  const rowShape = classAxis === null ? shape : expectedShape('labels', shape, classAxis);
  for (const name of ['labels', 'targets', 'class_weights', 'sample_weights', 'mask', 'bytes', 'words'] as const) {
    const spec = specs.get(name);
    if (spec === undefined) continue;
    if (name === 'mask') checkDeclared(spec, rowShape, `one 0 or 1 per element of ${inputName}`, issues);
    else if (name === 'bytes' || name === 'words') checkDeclared(spec, [rowShape[0]!], 'one length per sequence: the first dimension of the samples', issues);
    else checkShape(spec, name, inputSpec, classAxis!, issues);
  }
  checkSequenceScope(options, rowShape, (name) => `/parameters/${name}`, issues);
  throwIfAny(issues);

  layOutBinaryData([...specs.values()].sort((a, b) => a.position - b.position), body.length, headerLength, issues);
  throwIfAny(issues);

  const jsonBytes = headerLength ?? body.length;
  const read = (name: InputName) => (specs.has(name) ? readTensor(body, jsonBytes, specs.get(name)!, issues) : null);
  const input = read(inputName);
  const truth = truthName === null ? null : read(truthName);
  const parts = {
    classWeights: read('class_weights'),
    sampleWeights: read('sample_weights'),
    mask: read('mask'),
    bytes: checkTextLengths(read('bytes'), 'bytes', rowShape[0]!, (i) => pointerTo('bytes', i === undefined ? [] : [i]), issues),
    words: checkTextLengths(read('words'), 'words', rowShape[0]!, (i) => pointerTo('words', i === undefined ? [] : [i]), issues),
  };
  if (issues.length > 0 || input === null || (truthName !== null && truth === null)) throwIssues(issues);
  const context = { include: options.include, bytes: parts.bytes !== null, words: parts.words !== null };
  const available = availableOutputs(context);
  const missing = requested === null ? -1 : requested.findIndex((o) => o.classes === 0 && !available.includes(o.name as OutputName));
  if (missing >= 0) {
    const o = requested![missing]!;
    throwIssues([
      {
        code: 'XENT_INVALID_OPTION',
        pointer: `/outputs/${missing}/name`,
        detail: `output "${o.name}" is not computed for this request: ask for it with the request parameter include (or bytes, words); this request has ${available.join(', ')}`,
      },
    ]);
  }
  const decoded = buildTask({ field: inputName, tensor: { data: input, shape } }, truthName === null ? null : { field: truthName, data: truth! }, parts, options, classAxis);
  const outputs = requested ?? available.map((name) => ({ name, binary: binaryDefault, datatype: OUTPUT_DATATYPES[name], classes: 0 }));
  checkClassificationSize(outputs, decoded.task.rows, decoded.task.classes, issues);
  throwIfAny(issues);
  return { ...decoded, id: typeof id === 'string' ? id : null, outputs };
}

/** A mask or text lengths tensor must have the shape it is for. */
function checkDeclared(spec: InputSpec, expected: number[], why: string, issues: Issue[]): void {
  if (spec.shape.length === expected.length && spec.shape.every((d, i) => d === expected[i])) return;
  issues.push({
    code: 'XENT_INVALID_SHAPE',
    pointer: `/inputs/${spec.position}/shape`,
    detail: `input "${spec.name}" has shape [${spec.shape.join(', ')}]; expected [${expected.join(', ')}] (${why})`,
  });
}

/** A classification names the model output the request sends: `logits` classifies logits, not probabilities. */
function checkClassifiedInput(outputs: RequestedOutput[], input: InputName, issues: Issue[]): void {
  outputs.forEach((o, i) => {
    if (o.classes === 0 || o.name === input) return;
    issues.push({
      code: 'XENT_INVALID_OPTION',
      pointer: `/outputs/${i}/name`,
      detail: `output "${o.name}" classifies the input of that name, and this request sends "${input}": ask for output "${input}"`,
    });
  });
}

/** Every classification within MAX_CLASSIFICATION_STRINGS strings (samples × k). */
function checkClassificationSize(outputs: RequestedOutput[], rows: number, classes: number, issues: Issue[]): void {
  outputs.forEach((o, i) => {
    const strings = rows * Math.min(o.classes, classes);
    if (strings <= MAX_CLASSIFICATION_STRINGS) return;
    issues.push({
      code: 'XENT_INVALID_OPTION',
      pointer: `/outputs/${i}/parameters/classification`,
      detail: `classification ${o.classes} of ${rows} samples makes ${strings} strings; at most ${MAX_CLASSIFICATION_STRINGS} are sent in one answer`,
    });
  });
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

function parseHeader(body: Uint8Array, headerLength: number | null, limits: InferenceLimits): Record<string, unknown> {
  const end = headerLength ?? body.length;
  if (end === 0) {
    throw ProblemError.of('XENT_INVALID_JSON', '', headerLength === null ? 'the body is empty' : 'the JSON header is empty (Inference-Header-Content-Length is 0)');
  }
  const header = parseJson(body, end, limits, (message) =>
    headerLength === null && /after JSON/.test(message)
      ? '; a body with binary tensor data needs the Inference-Header-Content-Length header'
      : headerLength !== null
        ? ` (in the first ${headerLength} bytes, as Inference-Header-Content-Length says)`
        : '',
  );
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
function readParameters(
  value: unknown,
  pointer: string,
  known: readonly string[],
  what: string,
  issues: Issue[],
  unknown: (key: string) => string = (key) => `unknown ${what} parameter "${excerpt(key)}"; the ${what} parameters are ${known.join(', ')}`,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (value === undefined) return out;
  if (typeof value !== 'object' || Array.isArray(value) || value === null) {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer, detail: `parameters must be an object, got ${describe(value)}` });
    return out;
  }
  const isKnown = (key: string) => known.includes(key);
  checkKeys(value, pointer, isKnown, unknown, issues);
  for (const [key, v] of Object.entries(value)) if (isKnown(key) && v !== null) out[key] = v;
  return out;
}

function readBoolean(parameters: Record<string, unknown>, key: string, pointer: string, issues: Issue[]): boolean | undefined {
  const v = parameters[key];
  if (v === undefined || typeof v === 'boolean') return v;
  issues.push({ code: 'XENT_INVALID_OPTION', pointer: `${pointer}/${key}`, detail: `${key} must be a boolean, got ${describe(v)}` });
  return undefined;
}

/** The outputs the request names, or null for every output the request has. */
function readOutputs(value: unknown, binaryDefault: boolean, issues: Issue[]): RequestedOutput[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) {
    issues.push({ code: 'XENT_BAD_REQUEST', pointer: '/outputs', detail: `outputs must be an array, got ${describe(value)}` });
    return [];
  }
  if (value.length === 0) return null;
  const outputs: RequestedOutput[] = [];
  const seen = new Map<string, number>();
  value.forEach((entry: unknown, i) => {
    const at = `/outputs/${i}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      issues.push({ code: 'XENT_BAD_REQUEST', pointer: at, detail: `an output must be an object with a name, got ${describe(entry)}` });
      return;
    }
    const fields = entry as Record<string, unknown>;
    checkKeys(fields, at, (key) => OUTPUT_FIELDS.has(key), (key) => `unknown field "${excerpt(key)}"; an output has name and parameters`, issues);
    const name = fields.name;
    if (typeof name !== 'string') {
      issues.push({ code: 'XENT_MISSING_FIELD', pointer: `${at}/name`, detail: `an output needs a name, got ${describe(name)}` });
      return;
    }
    const classified = (CLASSIFIED_OUTPUTS as readonly string[]).includes(name);
    if (!classified && !(OUTPUT_NAMES as readonly string[]).includes(name)) {
      issues.push({
        code: 'XENT_UNKNOWN_FIELD',
        pointer: `${at}/name`,
        detail: `unknown output "${excerpt(name)}"; the outputs are ${OUTPUT_NAMES.join(', ')}, and the input (logits or probabilities) with the parameter classification`,
      });
      return;
    }
    if (seen.has(name)) {
      issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: `${at}/name`, detail: `output "${name}" is requested twice (outputs ${seen.get(name)} and ${i})` });
      return;
    }
    seen.set(name, i);
    const parameters = readParameters(present(fields, 'parameters'), `${at}/parameters`, OUTPUT_PARAMETERS, 'output', issues);
    const binary = readBoolean(parameters, 'binary_data', `${at}/parameters`, issues) ?? binaryDefault;
    const classes = readClassification(parameters, name, classified, at, issues);
    let datatype: RequestedOutput['datatype'] = classified ? 'BYTES' : OUTPUT_DATATYPES[name as OutputName];
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
    outputs.push({ name: name as OutputName | ClassifiedOutput, binary, datatype, classes });
  });
  return outputs;
}

/**
 * Triton's `classification` output parameter: a count of classes, 0 meaning none, as Triton reads it (an unsigned
 * integer). It applies to the model output only; the model output is sent only as a classification.
 */
function readClassification(parameters: Record<string, unknown>, name: string, classified: boolean, at: string, issues: Issue[]): number {
  const k = parameters.classification ?? 0;
  const pointer = `${at}/parameters/classification`;
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 0) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer, detail: `classification is a count of classes (an integer, 0 for none), got ${describe(k)}` });
    return 0;
  }
  if (k > 0 && !classified) {
    issues.push({
      code: 'XENT_INVALID_OPTION',
      pointer,
      detail: `classification applies to the model output, whose values are per class: ask for output "logits" or "probabilities" (the one the request sends) with it; ${name} is not per class`,
    });
    return 0;
  }
  if (k === 0 && classified) {
    issues.push({
      code: 'XENT_INVALID_OPTION',
      pointer: `${at}/name`,
      detail: `output "${name}" is sent as a classification only (xent does not echo its input): add "parameters": {"classification": k} for the k best classes of each sample`,
    });
  }
  return k;
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
    checkKeys(fields, at, (key) => INPUT_FIELDS.has(key), (key) => `unknown field "${excerpt(key)}"; an input has name, shape, datatype, parameters and data`, issues);
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

/** A truth or weights tensor must have the shape the model output's implies. */
function checkShape(spec: InputSpec, field: OtherTensor, input: InputSpec, classAxis: number, issues: Issue[]): void {
  const expected = expectedShape(field, input.shape, classAxis);
  if (spec.shape.length === expected.length && spec.shape.every((d, i) => d === expected[i])) return;
  const inputName = input.name as InputField;
  const hint = shapeHint(field, spec.shape, input.shape, classAxis, inputName);
  issues.push({
    code: 'XENT_INVALID_SHAPE',
    pointer: `/inputs/${spec.position}/shape`,
    detail: `input "${spec.name}" has shape [${spec.shape.join(', ')}]; expected [${expected.join(', ')}] (${whyShape(field, inputName)})${hint === null ? '' : `: ${hint}`}`,
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
function readTensor(body: Uint8Array, headerLength: number, spec: InputSpec, issues: Issue[]): Float64Array | null {
  if (spec.binarySize !== null) return decodeBinaryTensor(body, spec.offset, spec.elements, spec.datatype);
  // A shape promising more numbers than the JSON header can hold is found ragged by the walk over the values,
  // without first allocating what it promised.
  const capacity = maxJsonNumbers(headerLength);
  const { name, shape, elements, data } = spec;
  if (!Array.isArray(data)) {
    issues.push({ code: 'XENT_INVALID_SHAPE', pointer: `/inputs/${spec.position}/data`, detail: `input "${name}": data must be an array, got ${describe(data)}` });
    return null;
  }
  const reader = ELEMENT_READERS[spec.datatype];
  if (shape.length > 1 && Array.isArray(data[0])) return readNestedTensor(data, shape, name, reader, capacity, issues);
  if (data.length !== elements) {
    issues.push({
      code: 'XENT_INVALID_SHAPE',
      pointer: `/inputs/${spec.position}/data`,
      detail: `input "${name}" has ${data.length} values, but shape [${shape.join(', ')}] holds ${elements}`,
    });
    return null;
  }
  return readFlatTensor(data, shape, name, reader, capacity, issues);
}

/**
 * JSON tensor data as the declared datatype holds it, as a server holding the tensor in that type would have it:
 * FP32, FP16 and BF16 round to nearest (ties to even), a value beyond the type's range is an error, and integer
 * types take integers only.
 */
function floatReader(datatype: FloatDatatype): ElementReader {
  return {
    value: (x) => {
      if (typeof x !== 'number' || x - x !== 0) return NaN;
      const v = toFloatDatatype(x, datatype);
      return v - v === 0 ? v : NaN;
    },
    problem: (x) =>
      typeof x !== 'number'
        ? { code: 'XENT_INVALID_NUMBER', detail: `expected a number, got ${describe(x)}` }
        : x - x !== 0
          ? { code: 'XENT_NUMBER_OUT_OF_RANGE', detail: 'the number is outside the float64 range' }
          : { code: 'XENT_NUMBER_OUT_OF_RANGE', detail: `${x} is outside the ${datatype} range` },
  };
}

function integerReader(datatype: IntegerDatatype): ElementReader {
  return {
    value: (x) => (typeof x === 'number' && Number.isInteger(x) && fitsIntegerDatatype(x, datatype) ? x : NaN),
    problem: (x): { code: ErrorCode; detail: string } =>
      typeof x !== 'number'
        ? { code: 'XENT_INVALID_NUMBER', detail: `expected a number, got ${describe(x)}` }
        : x - x !== 0
          ? { code: 'XENT_NUMBER_OUT_OF_RANGE', detail: 'the number is outside the float64 range' }
          : !Number.isInteger(x)
            ? { code: 'XENT_LABEL_NOT_INTEGER', detail: `label ${x} is not an integer` }
            : { code: 'XENT_NUMBER_OUT_OF_RANGE', detail: `${x} is outside the ${datatype} range` },
  };
}

/** BOOL elements: JSON true and false (and 0 and 1, as some clients write them). */
const BOOL_READER: ElementReader = {
  value: (x) => (x === true || x === 1 ? 1 : x === false || x === 0 ? 0 : NaN),
  problem: (x) => ({ code: 'XENT_INVALID_MASK', detail: `expected true or false, got ${describe(x)}` }),
};

const ELEMENT_READERS: Readonly<Record<NumericDatatype, ElementReader>> = {
  BOOL: BOOL_READER,
  FP64: floatReader('FP64'),
  FP32: floatReader('FP32'),
  FP16: floatReader('FP16'),
  BF16: floatReader('BF16'),
  INT32: integerReader('INT32'),
  INT64: integerReader('INT64'),
};
