import type { ScoreTask, Unit } from '../kernel/types.js';
import { OPTION_NAMES, scoreOptionsSchema, type OptionName } from './fields.js';
import { unflatten } from './pointer.js';
import type { Issue } from './problems.js';
import type { Tensor } from './tensor.js';

/**
 * The one place where a request becomes the kernel's task, whichever protocol it came by: which fields pair up, the
 * options with their defaults and scope rules, the shapes the other tensors must have given the model output's, and
 * the task itself. The protocol codecs only find the parts (members of a JSON body, or input tensors and parameters
 * of an inference request) and say where each one is, for the pointers of the issues.
 */

/** The model output: unnormalised scores or probabilities. */
export type InputField = 'logits' | 'probabilities';
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
}

export const DEFAULT_OPTIONS: Readonly<Options> = Object.freeze({
  ignoreIndex: -100,
  labelSmoothing: 0,
  epsilon: 0,
  unit: 'nats',
  classDim: -1,
  renormalize: false,
});

/** The option values as given (undefined = not given), by the request's field names. */
export type GivenOptions = Partial<Record<OptionName, unknown>>;

/**
 * Which of two alternative fields the request gives: exactly one must be there. Null, with the issue, otherwise;
 * `pointer(name)` is where a field is (a conflict is reported at the second one), `missing` where it belongs.
 */
export function pickOne<A extends string, B extends string>(
  a: A,
  b: B,
  has: (name: A | B) => boolean,
  pointer: (name: A | B) => string,
  missing: string,
  issues: Issue[],
): A | B | null {
  const hasA = has(a);
  const hasB = has(b);
  if (hasA && hasB) {
    issues.push({ code: 'XENT_CONFLICTING_FIELDS', pointer: pointer(b), detail: `give either ${a} or ${b}, not both` });
    return null;
  }
  if (!hasA && !hasB) {
    issues.push({ code: 'XENT_MISSING_FIELD', pointer: missing, detail: `one of ${a} or ${b} is required` });
    return null;
  }
  return hasA ? a : b;
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
  if (input === 'logits' && given.epsilon !== undefined) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer('epsilon'), detail: 'epsilon applies to probabilities only' });
  }
  if (input === 'logits' && given.renormalize !== undefined) {
    issues.push({
      code: 'XENT_INVALID_OPTION',
      pointer: pointer('renormalize'),
      detail: 'renormalize applies to probabilities only (logits are normalised by the softmax)',
    });
  }
  if (truth === 'targets' && given.ignore_index !== undefined) {
    issues.push({ code: 'XENT_INVALID_OPTION', pointer: pointer('ignore_index'), detail: 'ignore_index applies to labels only' });
  }
  if (issues.length > before || !parsed.success) return null;
  const o = parsed.data;
  return {
    ignoreIndex: o.ignore_index ?? DEFAULT_OPTIONS.ignoreIndex,
    labelSmoothing: o.label_smoothing ?? DEFAULT_OPTIONS.labelSmoothing,
    epsilon: o.epsilon ?? DEFAULT_OPTIONS.epsilon,
    unit: o.unit ?? DEFAULT_OPTIONS.unit,
    classDim: o.class_dim ?? DEFAULT_OPTIONS.classDim,
    renormalize: o.renormalize ?? DEFAULT_OPTIONS.renormalize,
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
  /** Its class axis (the last unless class_dim says otherwise). */
  classAxis: number;
  /** The shape of the samples: the output's without its class axis, which labels, losses and per-sample figures take. */
  rowShape: number[];
  inputField: InputField;
  truthField: TruthField;
}

/** A request as the kernel's task, with its layout. */
export interface DecodedTask {
  task: ScoreTask;
  layout: Layout;
}

/**
 * The task: the parts found and checked by a protocol codec, the options resolved. The kernel takes rows of classes;
 * an output whose class axis is not the last (PyTorch's [N][C][T]) is transposed to [N][T][C], and its targets with it,
 * so that every row's classes are contiguous, and the rows come in the samples' row-major order.
 */
export function buildTask(
  input: { field: InputField; tensor: Tensor },
  truth: { field: TruthField; data: Float64Array },
  classWeights: Float64Array | null,
  sampleWeights: Float64Array | null,
  options: Options,
  classAxis: number,
): DecodedTask {
  const { shape } = input.tensor;
  const classes = shape[classAxis]!;
  const last = classAxis === shape.length - 1;
  const data = last ? input.tensor.data : moveAxisLast(input.tensor.data, shape, classAxis);
  const truthData = last || truth.field === 'labels' ? truth.data : moveAxisLast(truth.data, shape, classAxis);
  const { classDim: _classDim, ...kernelOptions } = options;
  return {
    task: {
      kind: input.field,
      rows: data.length / classes,
      classes,
      input: data,
      labels: truth.field === 'labels' ? truthData : null,
      targets: truth.field === 'targets' ? truthData : null,
      classWeights,
      sampleWeights,
      ...kernelOptions,
    },
    layout: { shape, classAxis, rowShape: expectedShape('labels', shape, classAxis), inputField: input.field, truthField: truth.field },
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
  if (layout.classAxis !== layout.shape.length - 1) at.splice(layout.classAxis, 0, 0);
  return at;
}
