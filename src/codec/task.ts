import { MAX_CALIBRATION_BINS } from '../kernel/diagnostics.js';
import type { EvaluationRequest } from '../kernel/evaluate.js';
import type { ScoreTask, Unit } from '../kernel/types.js';
import { CLASS_DIAGNOSTICS, INCLUDE_NAMES, OPTION_NAMES, scoreOptionsSchema, type IncludeName, type OptionName } from './fields.js';
import { unflatten } from './pointer.js';
import { excerpt } from './text.js';
import type { Issue } from './problems.js';
import type { Tensor } from './tensor.js';

/**
 * The one place where a request becomes the kernel's task, whichever protocol it came by: which fields pair up, the
 * options with their defaults and scope rules, the shapes the other tensors must have given the model output's, and
 * the task itself. The protocol codecs only find the parts (members of a JSON body, or input tensors and parameters
 * of an inference request) and say where each one is, for the pointers of the issues.
 */

/** The model output: unnormalised scores or probabilities, or only the true class's log-probability. */
export type InputField = 'logits' | 'probabilities' | 'target_log_probs';
/** The outputs over classes. */
export type ClassInputField = Exclude<InputField, 'target_log_probs'>;
/** The truth: class indices or target distributions. */
export type TruthField = 'labels' | 'targets';

/** The options with every default applied (`classDim` as given: its axis depends on the input's rank). */
export interface Options {
  ignoreIndex: number;
  labelSmoothing: number;
  epsilon: number;
  unit: Unit;
  classDim: number;
  renormalize: boolean;
  /** The figures asked for beside the loss. */
  include: ReadonlySet<IncludeName>;
  /** The ks of top_k_accuracy, ascending and distinct. */
  topK: readonly number[];
  calibrationBins: number;
  /** The model the figures are counted for in the metrics, or null. */
  model: string | null;
}

export const DEFAULT_OPTIONS: Readonly<Options> = Object.freeze({
  ignoreIndex: -100,
  labelSmoothing: 0,
  epsilon: 0,
  unit: 'nats',
  classDim: -1,
  renormalize: false,
  include: new Set<IncludeName>(),
  topK: [1, 5],
  calibrationBins: 15,
  model: null,
});

/** The option values as given (undefined = not given), by the request's field names. */
export type GivenOptions = Partial<Record<OptionName, unknown>>;

/**
 * Which of alternative fields the request gives: exactly one must be there. Null, with the issue, otherwise;
 * `pointer(name)` is where a field is (a conflict is reported at the second one), `missing` where one belongs.
 */
export function pickOne<N extends string>(names: readonly N[], has: (name: N) => boolean, pointer: (name: N) => string, missing: string, issues: Issue[]): N | null {
  const given = names.filter((name) => has(name));
  if (given.length > 1) {
    issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: pointer(given[1]!), detail: `give either ${given[0]} or ${given[1]}, not both` });
    return null;
  }
  if (given.length === 0) {
    const list = names.length === 2 ? `${names[0]} or ${names[1]}` : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
    issues.push({ code: 'XENT_MISSING_FIELD', pointer: missing, detail: `one of ${list} is required` });
    return null;
  }
  return given[0]!;
}

export const INPUT_FIELDS: readonly InputField[] = ['logits', 'probabilities', 'target_log_probs'];
export const TRUTH_FIELDS: readonly TruthField[] = ['labels', 'targets'];

/**
 * The model output and the truth the request gives: one output, and one truth unless the output is target
 * log-probabilities (which are the truth's: labels or targets beside them conflict). Null where an issue was found.
 */
export function pickParts(has: (name: InputField | TruthField) => boolean, pointer: (name: InputField | TruthField) => string, missing: string, issues: Issue[]): { input: InputField | null; truth: TruthField | null } {
  const input = pickOne(INPUT_FIELDS, has, pointer, missing, issues);
  if (input === 'target_log_probs') {
    for (const name of TRUTH_FIELDS) {
      if (has(name)) issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: pointer(name), detail: `target_log_probs are the truth's log-probabilities: give no ${name}` });
    }
    return { input, truth: null };
  }
  return { input, truth: pickOne(TRUTH_FIELDS, has, pointer, missing, issues) };
}

/**
 * The parts beside the output and the truth that only some outputs take: class_weights need classes, a mask goes
 * with target log-probabilities (labels have ignore_index), and sample_weights go with classes.
 */
export function checkPartScope(input: InputField | null, has: (name: 'class_weights' | 'mask' | 'sample_weights') => boolean, pointer: (name: string) => string, issues: Issue[]): void {
  if (input === 'target_log_probs' && has('class_weights')) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer('class_weights'), detail: 'class_weights need the class distribution, which target_log_probs do not give' });
  }
  if (input === 'target_log_probs' && has('sample_weights')) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer('sample_weights'), detail: 'sample_weights go with logits or probabilities; with target_log_probs, a mask counts an element or not' });
  }
  if (input !== null && input !== 'target_log_probs' && has('mask')) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer('mask'), detail: 'mask applies to target_log_probs (labels leave samples out with ignore_index)' });
  }
}

/**
 * Sequence figures need sequences: a first dimension over samples of at least two dimensions ([N][T]: logits
 * [N][T][C]), and bytes and words one count per sequence.
 */
export function checkSequenceScope(options: Options, rowShape: readonly number[], pointer: (name: string) => string, issues: Issue[]): void {
  if (options.include.has('sequences') && rowShape.length < 2) {
    issues.push({
      code: 'XENT_INVALID_OPTION',
      pointer: pointer('include'),
      detail: `sequences need samples of at least 2 dimensions, [N][T] (logits [N][T][C]); these samples have shape [${rowShape.join(', ')}]`,
    });
  }
}

/** bytes or words: N integers ≥ 0, one per sequence (the first dimension of the samples). */
export function checkTextLengths(values: Float64Array | null, name: 'bytes' | 'words', sequences: number, pointer: (index?: number) => string, issues: Issue[]): number[] | null {
  if (values === null) return null;
  if (values.length !== sequences) {
    issues.push({ code: 'XENT_INVALID_SHAPE', pointer: pointer(), detail: `${name} must give one length per sequence: ${sequences} (the first dimension of the samples), not ${values.length}` });
    return null;
  }
  const bad = values.findIndex((n) => !(Number.isSafeInteger(n) && n >= 0));
  if (bad >= 0) {
    issues.push({ code: 'XENT_INVALID_NUMBER', pointer: pointer(bad), detail: `${name} are lengths: integers >= 0, got ${values[bad]}` });
    return null;
  }
  return Array.from(values);
}

/**
 * The options: each given value checked, the scope rules (epsilon clips probabilities, ignore_index skips labels)
 * applied against the fields the request gives (null when that is not known yet), and the defaults filled in.
 * Null, with the issues at `pointer(name)`, when anything is wrong.
 */
export function resolveOptions(
  given: GivenOptions,
  input: InputField | null,
  truth: TruthField | null,
  pointer: (name: OptionName) => string,
  issues: Issue[],
): Options | null {
  const before = issues.length;
  const parsed = scoreOptionsSchema.safeParse(Object.fromEntries(OPTION_NAMES.map((name) => [name, given[name]])));
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer(String(issue.path[0]) as OptionName), detail: issue.message });
    }
  }
  const scope = (name: OptionName, applies: boolean, detail: string) => {
    if (!applies && given[name] !== undefined) issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer(name), detail });
  };
  const classes = 'needs the class distribution, which target_log_probs do not give';
  scope('epsilon', input !== 'logits', input === 'target_log_probs' ? `epsilon ${classes}` : 'epsilon applies to probabilities only');
  scope(
    'renormalize',
    input !== 'logits',
    input === 'target_log_probs' ? `renormalize ${classes}` : 'renormalize applies to probabilities only (logits are normalised by the softmax)',
  );
  scope('ignore_index', truth !== 'targets' && input !== 'target_log_probs', input === 'target_log_probs' ? 'with target_log_probs, send a mask (0 = not counted)' : 'ignore_index applies to labels only');
  scope('label_smoothing', input !== 'target_log_probs', `label_smoothing ${classes}`);
  scope('class_dim', input !== 'target_log_probs', 'target_log_probs have no class dimension');
  if (issues.length > before || !parsed.success) return null;
  const o = parsed.data;
  const include = resolveInclude(o.include, input, (i) => (i === undefined ? pointer('include') : `${pointer('include')}/${i}`), issues);
  const topK = resolveTopK(o.top_k, include, pointer('top_k'), issues);
  const calibrationBins = o.calibration_bins ?? DEFAULT_OPTIONS.calibrationBins;
  if (o.calibration_bins !== undefined) {
    if (!(Number.isInteger(calibrationBins) && calibrationBins >= 1 && calibrationBins <= MAX_CALIBRATION_BINS)) {
      issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer('calibration_bins'), detail: `calibration_bins must be an integer from 1 to ${MAX_CALIBRATION_BINS}` });
    } else if (include !== null && !include.has('calibration')) {
      issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer('calibration_bins'), detail: 'calibration_bins applies with include: ["calibration"]' });
    }
  }
  if (issues.length > before || include === null || topK === null) return null;
  return {
    ignoreIndex: o.ignore_index ?? DEFAULT_OPTIONS.ignoreIndex,
    labelSmoothing: o.label_smoothing ?? DEFAULT_OPTIONS.labelSmoothing,
    epsilon: o.epsilon ?? DEFAULT_OPTIONS.epsilon,
    unit: o.unit ?? DEFAULT_OPTIONS.unit,
    classDim: o.class_dim ?? DEFAULT_OPTIONS.classDim,
    renormalize: o.renormalize ?? DEFAULT_OPTIONS.renormalize,
    include,
    topK,
    calibrationBins,
    model: o.model ?? null,
  };
}

/** `include` as a set of known, distinct names (an array, or a comma-separated string as inference parameters are). */
function resolveInclude(value: string[] | string | undefined, input: InputField | null, pointer: (index?: number) => string, issues: Issue[]): Set<IncludeName> | null {
  const names = value === undefined ? [] : typeof value === 'string' ? value.split(',').map((n) => n.trim()).filter((n) => n !== '') : value;
  const include = new Set<IncludeName>();
  const before = issues.length;
  names.forEach((name, i) => {
    const at = typeof value === 'string' ? pointer() : pointer(i);
    if (!(INCLUDE_NAMES as readonly string[]).includes(name)) {
      issues.push({ code: 'XENT_INVALID_OPTION', pointer: at, detail: `unknown include name "${excerpt(name)}"; the names are ${INCLUDE_NAMES.join(', ')}` });
    } else if (include.has(name as IncludeName)) {
      issues.push({ code: 'XENT_INVALID_OPTION', pointer: at, detail: `"${name}" is included twice` });
    } else if (input === 'target_log_probs' && CLASS_DIAGNOSTICS.includes(name as IncludeName)) {
      issues.push({ code: 'XENT_INVALID_OPTION', pointer: at, detail: `${name} needs the class distribution, which target_log_probs do not give` });
    } else {
      include.add(name as IncludeName);
    }
  });
  return issues.length > before ? null : include;
}

/** The ks of top_k_accuracy: integers ≥ 1, ascending and distinct; only with include top_k. */
function resolveTopK(value: number[] | string | undefined, include: ReadonlySet<IncludeName> | null, pointer: string, issues: Issue[]): number[] | null {
  if (value === undefined) return [...DEFAULT_OPTIONS.topK];
  const ks = typeof value === 'string' ? value.split(',').map((k) => Number(k.trim())) : value;
  if (ks.length === 0 || !ks.every((k) => Number.isSafeInteger(k) && k >= 1)) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer, detail: 'top_k must be integers >= 1, such as [1, 5]' });
    return null;
  }
  if (include !== null && !include.has('top_k')) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer, detail: 'top_k applies with include: ["top_k"]' });
    return null;
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

/** What the kernel computes beside the loss for these options, over `sequences` sequences (the samples' first dimension). */
export function evaluationRequest(options: Options, sequences: number, text: { bytes: number[] | null; words: number[] | null }): EvaluationRequest {
  const has = (name: IncludeName) => options.include.has(name);
  const diagnostic = ['probability', 'rank', 'top_k', 'entropy', 'kl', 'brier', 'calibration'].some((n) => has(n as IncludeName));
  return {
    diagnostics: diagnostic
      ? {
          probability: has('probability'),
          rank: has('rank'),
          entropy: has('entropy'),
          kl: has('kl'),
          brier: has('brier'),
          topK: has('top_k') ? options.topK : null,
          calibrationBins: has('calibration') ? options.calibrationBins : null,
        }
      : null,
    sequences: has('sequences') || text.bytes !== null || text.words !== null ? { count: sequences, text } : null,
  };
}

/**
 * The input's class axis, from `class_dim` (negative counts from the end, as in PyTorch and NumPy) and its rank; null,
 * with the issue at `pointer`, when it is not an axis of the input.
 */
export function resolveClassAxis(classDim: number, rank: number, input: InputField, pointer: string, issues: Issue[]): number | null {
  const axis = classDim < 0 ? rank + classDim : classDim;
  if (axis >= 0 && axis < rank) return axis;
  issues.push({
    code: 'XENT_INVALID_OPTION',
    pointer,
    detail: `class_dim ${classDim} is not an axis of ${input}, which has ${rank} dimensions: give one from ${-rank} to ${rank - 1}`,
  });
  return null;
}

/** The tensors besides the model output, each of a shape the output's implies. */
export type OtherTensor = TruthField | 'class_weights' | 'sample_weights';

/** The shape each other tensor must have, given the model output's shape and its class axis. */
export function expectedShape(field: OtherTensor, inputShape: readonly number[], classAxis = inputShape.length - 1): number[] {
  switch (field) {
    case 'labels':
    case 'sample_weights':
      return inputShape.filter((_, axis) => axis !== classAxis);
    case 'targets':
      return [...inputShape];
    case 'class_weights':
      return [inputShape[classAxis]!];
  }
}

/** Why a tensor must have the shape `expectedShape` gives, for the issue when it does not. */
export function whyShape(field: OtherTensor, input: InputField): string {
  switch (field) {
    case 'labels':
      return `the shape of ${input} without its class dimension`;
    case 'sample_weights':
      return `one weight per sample: the shape of ${input} without its class dimension`;
    case 'targets':
      return `the shape of ${input}`;
    case 'class_weights':
      return `one weight per class of ${input}`;
  }
}

/**
 * What a tensor of the wrong shape most likely is, when it is a common mistake: labels as a column ([[0], [2]]) or as
 * one-hot rows, class indices sent as targets, or a class axis that is not the last without class_dim saying so.
 * Null when the shape says nothing more than that it is wrong.
 */
export function shapeHint(field: OtherTensor, got: readonly number[], inputShape: readonly number[], classAxis: number, input: InputField): string | null {
  const expected = expectedShape(field, inputShape, classAxis);
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  if (same(got, expected)) return null;
  if ((field === 'labels' || field === 'sample_weights') && same(got, [...expected, 1])) {
    return `${field} have a trailing dimension of 1 (a column, [[0], [2]]): send them flat, [0, 2] (numpy: .ravel())`;
  }
  if (field === 'labels' && same(got, inputShape)) {
    return `labels are class indices, one per sample (shape [${expected.join(', ')}]); one-hot or soft rows of ${input}'s shape go in targets`;
  }
  if (field === 'targets' && same(got, expectedShape('labels', inputShape, classAxis))) {
    return `targets are distributions of ${input}'s shape [${inputShape.join(', ')}]; class indices, one per sample, go in labels`;
  }
  if (field === 'labels' || field === 'sample_weights') {
    // The samples' shape for another class axis: the classes are not where class_dim (default: last) says.
    for (let axis = 0; axis < inputShape.length; axis++) {
      if (axis !== classAxis && same(got, expectedShape(field, inputShape, axis))) {
        return `${field} have the shape of ${input} without dimension ${axis}: if that is the class dimension (PyTorch puts it at 1: [N, C, T]), send class_dim: ${axis}`;
      }
    }
  }
  return null;
}

/** Where a request's tensors are, so that what the kernel finds can be reported at pointers, and outputs shaped. */
export interface Layout {
  /** The model output's shape as sent. */
  shape: number[];
  /** Its class axis (the last unless class_dim says otherwise); null for target log-probabilities, which have none. */
  classAxis: number | null;
  /** The shape of the samples: the output's without its class axis, which labels, losses and per-sample figures take. */
  rowShape: number[];
  inputField: InputField;
  /** Null for target log-probabilities: they are the truth's. */
  truthField: TruthField | null;
}

/** A request as the kernel's task, with its layout and what to compute beside the loss. */
export interface DecodedTask {
  task: ScoreTask;
  layout: Layout;
  request: EvaluationRequest;
  include: ReadonlySet<IncludeName>;
  options: Options;
}

/** The other parts of a request, each read and checked by a protocol codec (null when not given). */
export interface TaskParts {
  classWeights: Float64Array | null;
  sampleWeights: Float64Array | null;
  mask: Float64Array | null;
  bytes: number[] | null;
  words: number[] | null;
}

/**
 * The task: the parts found and checked by a protocol codec, the options resolved. The kernel takes rows of classes;
 * an output whose class axis is not the last (PyTorch's [N][C][T]) is transposed to [N][T][C], and its targets with it,
 * so that every row's classes are contiguous, and the rows come in the samples' row-major order. Target
 * log-probabilities are rows of one value.
 */
export function buildTask(
  input: { field: InputField; tensor: Tensor },
  truth: { field: TruthField; data: Float64Array } | null,
  parts: TaskParts,
  options: Options,
  classAxis: number | null,
): DecodedTask {
  const { shape } = input.tensor;
  const classes = classAxis === null ? 1 : shape[classAxis]!;
  const last = classAxis === null || classAxis === shape.length - 1;
  const data = last ? input.tensor.data : moveAxisLast(input.tensor.data, shape, classAxis);
  const truthData = truth === null ? null : last || truth.field === 'labels' ? truth.data : moveAxisLast(truth.data, shape, classAxis!);
  const rowShape = classAxis === null ? [...shape] : expectedShape('labels', shape, classAxis);
  const { ignoreIndex, labelSmoothing, epsilon, unit, renormalize } = options;
  return {
    task: {
      kind: input.field === 'target_log_probs' ? 'targetLogProbs' : input.field,
      rows: data.length / classes,
      classes,
      input: data,
      labels: truth?.field === 'labels' ? truthData : null,
      targets: truth?.field === 'targets' ? truthData : null,
      classWeights: parts.classWeights,
      sampleWeights: parts.sampleWeights,
      renormalize,
      mask: parts.mask,
      ignoreIndex,
      labelSmoothing,
      epsilon,
      unit,
    },
    layout: { shape, classAxis, rowShape, inputField: input.field, truthField: truth?.field ?? null },
    request: evaluationRequest(options, rowShape[0]!, { bytes: parts.bytes, words: parts.words }),
    include: options.include,
    options,
  };
}

/** A row-major tensor with the axis `axis` moved last: [..., C, ...rest] → [..., ...rest, C]. */
function moveAxisLast(data: Float64Array, shape: readonly number[], axis: number): Float64Array {
  const classes = shape[axis]!;
  let outer = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d]!;
  const inner = data.length / (outer * classes);
  const out = new Float64Array(data.length);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    const block = a * classes * inner;
    for (let i = 0; i < inner; i++) {
      for (let c = 0; c < classes; c++) out[o++] = data[block + c * inner + i]!;
    }
  }
  return out;
}

/** The indices in the output as sent of element `flat` of the kernel's rows (row-major, classes last). */
export function inputIndices(flat: number, layout: Layout): number[] {
  if (layout.classAxis === null) return unflatten(flat, layout.rowShape);
  const classes = layout.shape[layout.classAxis]!;
  const at = unflatten(Math.floor(flat / classes), layout.rowShape);
  at.splice(layout.classAxis, 0, flat % classes);
  return at;
}

/**
 * The indices that name sample `row` in the output as sent: its row of classes when the class axis is last, else
 * (the sample is no array of its own there) its first class.
 */
export function sampleIndices(row: number, layout: Layout): number[] {
  const at = unflatten(row, layout.rowShape);
  if (layout.classAxis !== null && layout.classAxis !== layout.shape.length - 1) at.splice(layout.classAxis, 0, 0);
  return at;
}
