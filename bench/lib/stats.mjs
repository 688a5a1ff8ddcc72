// Small statistics helpers for the benchmark: exact percentiles over recorded samples, medians over rounds.

/** The q-quantile (0..1) of the samples by the nearest-rank method; NaN for no samples. */
export function percentile(samples, q) {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/** Median of a list of numbers, ignoring NaN; NaN when nothing is left. */
export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Rounds to a few significant digits for reports (numbers stay numbers in the JSON). */
export function sig(x, digits = 4) {
  return Number.isFinite(x) ? Number(x.toPrecision(digits)) : null;
}
