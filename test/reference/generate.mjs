// Generates test/reference/cases.json: request bodies for POST /loss and their expected figures, computed by the
// 50-digit decimal reference in ./highPrecision.mjs (decimal.js; every float64 input converted exactly from its binary
// value; see that file for the method). Deterministic (seeded PRNG). Run: `node test/reference/generate.mjs`.
// test/reference/reference.test.ts checks the service against it within 1e-13 relative.
import { writeFileSync } from 'node:fs';
import { D, referenceCrossEntropy } from './highPrecision.mjs';
import { mulberry32 as prng } from '../random.mjs';

const random = prng(20261128);
const uniform = (lo, hi) => lo + (hi - lo) * random();
const integer = (n) => Math.floor(random() * n);
const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

const logitsRows = (n, c, scale = 3) => Array.from({ length: n }, () => Array.from({ length: c }, () => normal() * scale));
const probabilityRows = (n, c, { zeros = false } = {}) =>
  Array.from({ length: n }, () => {
    const raw = Array.from({ length: c }, () => (zeros && random() < 0.25 ? 0 : random() ** 2 + 1e-3));
    if (raw.every((x) => x === 0)) raw[0] = 1;
    const total = raw.reduce((a, b) => a + b, 0);
    return raw.map((x) => x / total);
  });
const softRows = (n, c) => probabilityRows(n, c, { zeros: true });
const oneHot = (labels, c) => labels.map((y) => Array.from({ length: c }, (_, k) => (k === y ? 1 : 0)));
const labelsOf = (n, c, { ignore = -100, ignoreShare = 0 } = {}) =>
  Array.from({ length: n }, () => (random() < ignoreShare ? ignore : integer(c)));
const weightsOf = (c) => Array.from({ length: c }, () => uniform(0.1, 3));

/** Rows → nested in the given leading shape. */
function nest(rows, lead) {
  if (lead.length === 1) return rows;
  const size = rows.length / lead[0];
  return Array.from({ length: lead[0] }, (_, i) => nest(rows.slice(i * size, (i + 1) * size), lead.slice(1)));
}

const LN2 = new D(2).ln();
const MAX = new D(Number.MAX_VALUE.toString());
const digits = (d) => d.toPrecision(25);

const cases = [];
/**
 * Adds a case: `rows` and per-row truth, `lead` the leading shape (product = rows), options in the API's names.
 */
function add(name, { kind, rows, labels, targets, lead = [rows.length], options = {} }) {
  const ref = referenceCrossEntropy({
    kind,
    input: rows,
    ...(labels === undefined ? {} : { labels }),
    ...(targets === undefined ? {} : { targets }),
    ...(options.class_weights === undefined ? {} : { classWeights: options.class_weights }),
    ...(options.ignore_index === undefined ? {} : { ignoreIndex: options.ignore_index }),
    ...(options.label_smoothing === undefined ? {} : { labelSmoothing: options.label_smoothing }),
    ...(options.epsilon === undefined ? {} : { epsilon: options.epsilon }),
  });
  const bits = options.unit === 'bits';
  const inUnit = (d) => (bits ? d.div(LN2) : d);
  for (const loss of ref.losses) if (inUnit(loss).gt(MAX)) throw new Error(`${name}: a loss beyond float64`);
  const request = {
    [kind]: nest(rows, lead),
    ...(labels === undefined ? { targets: nest(targets, lead) } : { labels: lead.length === 1 ? labels : nest(labels, lead) }),
    ...options,
  };
  const perplexity = ref.cost === null || ref.cost.gt(709) ? null : ref.cost.exp();
  cases.push({
    name,
    request,
    expected: {
      losses: lead.length === 1 ? ref.losses.map((l) => digits(inUnit(l))) : nest(ref.losses.map((l) => digits(inUnit(l))), lead),
      sum: digits(inUnit(ref.sum)),
      cost: ref.cost === null ? null : digits(inUnit(ref.cost)),
      count: ref.count,
      total_weight: digits(ref.totalWeight),
      perplexity: perplexity === null ? null : digits(perplexity),
      accuracy: ref.count === 0 ? null : digits(new D(ref.correct).div(ref.count)),
      unit: bits ? 'bits' : 'nats',
    },
  });
}

// Every combination of input kind × truth × weights × ignore hits × smoothing × unit, 2-D and 3-D.
for (const kind of ['logits', 'probabilities']) {
  for (const truth of ['labels', 'one-hot', 'soft']) {
    for (const weighted of [false, true]) {
      for (const smoothing of [0, 0.1, 1]) {
        for (const unit of ['nats', 'bits']) {
          const three = random() < 0.5;
          const lead = three ? [2, 3] : [5];
          const n = three ? 6 : 5;
          const c = 2 + integer(6);
          const rows = kind === 'logits' ? logitsRows(n, c) : probabilityRows(n, c);
          const options = {};
          if (weighted) options.class_weights = weightsOf(c);
          if (smoothing > 0) options.label_smoothing = smoothing;
          if (unit === 'bits') options.unit = 'bits';
          let labels;
          let targets;
          if (truth === 'labels') {
            const custom = random() < 0.5;
            labels = labelsOf(n, c, { ignore: custom ? c - 1 : -100, ignoreShare: 0.3 });
            if (custom) options.ignore_index = c - 1; // an ignore_index that is a valid class
          } else if (truth === 'one-hot') {
            targets = oneHot(labelsOf(n, c), c);
          } else {
            targets = softRows(n, c);
          }
          add(`${kind} ${truth}${weighted ? ' weighted' : ''} smoothing=${smoothing} ${unit} [${lead}][${c}]`, {
            kind,
            rows,
            labels,
            targets,
            lead,
            options,
          });
        }
      }
    }
  }
}

// epsilon: probabilities with exact zeros and ones
for (const epsilon of [1e-7, 1e-3]) {
  add(`probabilities with 0 and 1, epsilon=${epsilon}`, {
    kind: 'probabilities',
    rows: [[0, 1, 0], [1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]],
    labels: [0, 0, 2, 1],
    options: { epsilon },
  });
  add(`soft targets on zero probabilities, epsilon=${epsilon}, smoothing`, {
    kind: 'probabilities',
    rows: [[0, 1, 0], [0.25, 0.25, 0.5]],
    targets: [[0.5, 0.5, 0], [0, 0, 1]],
    options: { epsilon, label_smoothing: 0.2 },
  });
}
add('zero target on a zero probability contributes 0', { kind: 'probabilities', rows: [[0, 1], [0.5, 0.5]], targets: [[0, 1], [1, 0]] });

// Exactness cases
add('logits of ±1e300', { kind: 'logits', rows: [[1e300, -1e300], [-1e300, 1e300], [1e300, 1e300]], labels: [1, 1, 0] });
add('common offset 1e15 with small differences', {
  kind: 'logits',
  rows: [[1e15, 1e15 + 0.125, 1e15 - 0.25, 1e15 + 3], [1e15 + 0.1, 1e15, 1e15 + 0.3, 1e15 - 0.7]],
  labels: [0, 2],
});
add('exact ties: accuracy takes the lowest index', { kind: 'logits', rows: [[2, 2, 1], [0, 5, 5], [3, 3, 3]], labels: [1, 1, 0] });
add('one class: every loss is 0', { kind: 'logits', rows: [[0.5], [-3], [1e10]], labels: [0, 0, 0] });
add('a true loss near 1e-18 on the arg-max class', { kind: 'logits', rows: [[0, -41.4465, -1000], [0, -41.4465, -50]], labels: [0, 0] });
add('true losses near 1e-100 and 1e-300', { kind: 'logits', rows: [[0, -230.2585], [0, -690.7755]], labels: [0, 0] });
add('logits like 1e-300', { kind: 'logits', rows: [[1e-300, 0, -1e-300]], labels: [0] });
add('large negative logits', { kind: 'logits', rows: [[-1e5, -1e5 - 3, -2e5], [-745, 0, -700]], labels: [1, 2] });
add('cost of 500 nats: perplexity e^500', { kind: 'logits', rows: [[0, -500.123], [0, -499.877]], labels: [1, 1] });
add('all labels ignored: cost, perplexity, accuracy null', { kind: 'logits', rows: [[1, 2], [3, 4]], labels: [-100, -100] });
add('all class weights 0: cost null', { kind: 'logits', rows: [[1, 2, 3], [3, 1, 2]], labels: [0, 2], options: { class_weights: [0, 0, 0] } });
add('label smoothing with a zero-weight class', {
  kind: 'logits',
  rows: logitsRows(3, 4),
  labels: [0, 1, 3],
  options: { class_weights: [1, 0, 2, 0.5], label_smoothing: 0.3 },
});
add('4-D logits', { kind: 'logits', rows: logitsRows(8, 3), labels: labelsOf(8, 3), lead: [2, 2, 2] });
add('N = 2000, C = 3', { kind: 'logits', rows: logitsRows(2000, 3), labels: labelsOf(2000, 3, { ignoreShare: 0.1 }) });
add('N = 2, C = 50257 (a GPT-2 vocabulary)', { kind: 'logits', rows: logitsRows(2, 50257), labels: [17, 50256] });

const path = new URL('./cases.json', import.meta.url);
writeFileSync(path, `${JSON.stringify({ generator: 'test/reference/generate.mjs', precision: 50, cases }, null, 0)}\n`);
process.stdout.write(`wrote ${cases.length} cases to test/reference/cases.json\n`);
