// An independent reference for the evaluation diagnostics (src/kernel/diagnostics.ts): the definitions evaluated
// directly in 50-significant-digit decimal arithmetic (decimal.js), every float64 input converted exactly, as in
// ./highPrecision.mjs, whose `exact`, `D`, `argmax` and −ln q (`negLogProbabilities`) it uses. It shares no code with
// src/kernel and none of its tricks (no shifted entropy, no generalised KL terms, no Taylor series): precision does the
// work.
//   q_c      softmax of the exact logits (via −ln q_c = (m − z_c) + ln(1 + Σ_{c≠k} e^(z_c − m)), so that a q_c of
//            e^−1e4 is still exact), or the probability clipped to [ε, 1 − ε] in float64 as numpy.clip does
//   y        the label, or the target's arg-max (lowest index on ties)
//   probability q_y; rank 1 + #{c : score_c > score_y}; entropy −Σ q ln q; kl Σ_{t′>0} t′ (ln t′ − ln q) with the
//   exact t′ = (1 − ε)·t + ε/C; brier Σ (q_c − t_c)², t the given target or one-hot label.
// With each row it gives the sensitivity of KL and Brier to relative perturbations δ_c of the q_c, Σ |t′_c − q_c| and
// Σ 2·q_c·|q_c − t_c|: any float64 evaluation from the rounded q_c (logits) or a rounded t′ (smoothing) can be off by
// about 2^−52 times these, however small the figure itself (a prediction that matches its target to 1e-10).
import { D, argmax, exact, negLogProbabilities } from './highPrecision.mjs';

/** −ln q_c for every class of a row (highPrecision.mjs's, the loss's own reference), and q_c. */
function distribution(kind, row, epsilon) {
  const nl = negLogProbabilities(kind, row, epsilon);
  if (kind === 'probabilities') return { q: row.map((p) => exact(Math.min(Math.max(p, epsilon), 1 - epsilon))), nl };
  return { q: nl.map((x) => (x.gt(1e5) ? new D(0) : x.neg().exp())), nl };
}

/**
 * Per-sample diagnostics of a request in the form of highPrecision.mjs's referenceCrossEntropy ({ kind, input, labels? |
 * targets?, ignoreIndex?, labelSmoothing?, epsilon? }; class weights play no part): an entry per row, null for an
 * ignored one, and the means over the counted rows. Entropy and KL in nats; kl is Infinity where t′ > 0 on q = 0.
 */
export function referenceDiagnostics(r) {
  const C = r.input[0].length;
  const epsilon = r.epsilon ?? 0;
  const smoothing = exact(r.labelSmoothing ?? 0);
  const keep = new D(1).minus(smoothing);
  const spread = smoothing.div(C);
  const ignore = r.ignoreIndex ?? -100;
  const rows = r.input.map((row, i) => {
    if (r.labels !== undefined && r.labels[i] === ignore) return null;
    const t = r.labels !== undefined ? row.map((_, c) => new D(c === r.labels[i] ? 1 : 0)) : r.targets[i].map(exact);
    const y = r.labels !== undefined ? r.labels[i] : argmax(r.targets[i]);
    const { q, nl } = distribution(r.kind, row, epsilon);
    const score = r.kind === 'logits' ? row : row.map((p) => Math.min(Math.max(p, epsilon), 1 - epsilon));
    let entropy = new D(0);
    let kl = new D(0);
    let brier = new D(0);
    let klSensitivity = new D(0);
    let brierSensitivity = new D(0);
    for (let c = 0; c < C; c++) {
      if (!q[c].isZero()) entropy = entropy.plus(q[c].mul(nl[c]));
      const share = keep.mul(t[c]).plus(spread);
      if (!share.isZero()) kl = kl.plus(share.mul(share.ln().plus(nl[c])));
      brier = brier.plus(q[c].minus(t[c]).pow(2));
      klSensitivity = klSensitivity.plus(share.minus(q[c]).abs());
      brierSensitivity = brierSensitivity.plus(q[c].mul(q[c].minus(t[c]).abs()).mul(2));
    }
    return {
      probability: q[y],
      rank: 1 + score.filter((v) => v > score[y]).length,
      entropy,
      kl,
      brier,
      // |∂/∂δ| of each figure at q_c·(1 + δ_c): how much a relative rounding of the q_c moves it (see `sensitivity`)
      sensitivity: { kl: klSensitivity.toNumber(), brier: brierSensitivity.toNumber() },
    };
  });
  const counted = rows.filter((x) => x !== null);
  const mean = (f) => (counted.length === 0 ? null : counted.reduce((s, x) => s.plus(f(x)), new D(0)).div(counted.length));
  return {
    rows,
    count: counted.length,
    mean: {
      probability: mean((x) => x.probability),
      reciprocalRank: mean((x) => new D(1).div(x.rank)),
      entropy: mean((x) => x.entropy),
      kl: mean((x) => x.kl),
      brier: mean((x) => x.brier),
    },
  };
}
