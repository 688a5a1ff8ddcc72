import type { ScoreTask, Unit } from '../kernel/types.js';
import { OPTION_NAMES, scoreOptionsSchema, type OptionName } from './fields.js';
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

/** The options with every default applied. */
export interface Options {
  ignoreIndex: number;
  labelSmoothing: number;
  epsilon: number;
  unit: Unit;
}

export const DEFAULT_OPTIONS: Readonly<Options> = Object.freeze({ ignoreIndex: -100, labelSmoothing: 0, epsilon: 0, unit: 'nats' });

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
  };
}

/** The shape each other tensor must have, given the model output's shape `[..., C]`. */
export function expectedShape(field: TruthField | 'class_weights', inputShape: readonly number[]): number[] {
  switch (field) {
    case 'labels':
      return inputShape.slice(0, -1);
    case 'targets':
      return [...inputShape];
    case 'class_weights':
      return [inputShape[inputShape.length - 1]!];
  }
}

/** Why a tensor must have the shape `expectedShape` gives, for the issue when it does not. */
export function whyShape(field: TruthField | 'class_weights', input: InputField): string {
  switch (field) {
    case 'labels':
      return `the shape of ${input} without its class dimension`;
    case 'targets':
      return `the shape of ${input}`;
    case 'class_weights':
      return `one weight per class of ${input}`;
  }
}

/** Where a request's tensors are, so that what the kernel finds can be reported at pointers, and outputs shaped. */
export interface Layout {
  /** The model output's shape, class dimension last. */
  shape: number[];
  inputField: InputField;
  truthField: TruthField;
}

/** A request as the kernel's task, with its layout. */
export interface DecodedTask {
  task: ScoreTask;
  layout: Layout;
}

/** The task: the parts found and checked by a protocol codec, the options resolved. */
export function buildTask(
  input: { field: InputField; tensor: Tensor },
  truth: { field: TruthField; data: Float64Array },
  classWeights: Float64Array | null,
  options: Options,
): DecodedTask {
  const { shape, data } = input.tensor;
  const classes = shape[shape.length - 1]!;
  return {
    task: {
      kind: input.field,
      rows: data.length / classes,
      classes,
      input: data,
      labels: truth.field === 'labels' ? truth.data : null,
      targets: truth.field === 'targets' ? truth.data : null,
      classWeights,
      ...options,
    },
    layout: { shape, inputField: input.field, truthField: truth.field },
  };
}
