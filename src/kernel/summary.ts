import { twoProductError, twoSum } from './float64.js';
import type { RowLosses, ScoreSummary, Unit } from './types.js';

/**
 * The batch figures from per-sample losses in nats: sum, cost = sum / total_weight (null when no weight is
 * counted), perplexity = exp(cost in nats), accuracy; in bits every loss figure is divided by ln 2.
 * Converts `rows.losses` in place. Returns null when a figure leaves the float64 range (the caller reports it).
 *
 * The sum and the total weight arrive as unevaluated pairs (high + low) from compensated summation. The cost is
 * their quotient in double-double arithmetic, so that exp(cost) is not spoiled by the rounding of the cost itself:
 * an error of half an ulp in a cost of 500 nats would be a relative error of 6e-14 in the perplexity.
 */
export function summarize(rows: RowLosses, unit: Unit): ScoreSummary | null {
  const [sum, sumLow] = twoSum(rows.sumHigh, rows.sumLow);
  const [totalWeight, weightLow] = twoSum(rows.totalWeightHigh, rows.totalWeightLow);
  if (!Number.isFinite(sum)) return null;

  let costNats: number | null = null;
  let perplexity: number | null = null;
  if (totalWeight > 0) {
    const q = sum / totalWeight;
    let correction = 0;
    // Dekker's product is exact only away from overflow; past 1e300 the perplexity overflows anyway, or the cost
    // is small enough that the correction does not matter.
    if (Math.abs(sum) < 1e300 && totalWeight < 1e300 && q < 1e300) {
      const p = q * totalWeight;
      correction = (sum - p - twoProductError(q, totalWeight, p) + sumLow - q * weightLow) / totalWeight;
    }
    costNats = q + correction;
    if (!Number.isFinite(costNats)) return null;
    const e = Math.exp(q);
    perplexity = Number.isFinite(e) ? e + e * correction : null;
  }

  const losses = rows.losses;
  let sumOut = sum;
  let costOut = costNats;
  if (unit === 'bits') {
    for (let i = 0; i < losses.length; i++) losses[i] = losses[i]! / Math.LN2;
    sumOut = sum / Math.LN2;
    costOut = costNats === null ? null : costNats / Math.LN2;
    if (!Number.isFinite(sumOut)) return null;
  }

  return {
    losses,
    sum: sumOut,
    cost: costOut,
    count: rows.count,
    totalWeight,
    perplexity,
    accuracy: rows.count > 0 ? rows.correct / rows.count : null,
    unit,
  };
}
