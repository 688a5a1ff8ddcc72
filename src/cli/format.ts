import type { DatasetResult } from './dataset.js';

/** What a run read, for the table's heading. */
export interface RunSummary {
  inputs: string[];
  lines: number | null;
  seconds: number;
}

/** The figures first, in the order people read them; the rest as the answer has them. */
const FIRST = ['cost', 'perplexity', 'accuracy', 'sum', 'count', 'total_weight'];
/** Figures in the answer's unit (the rest are probabilities, counts or ratios). */
const IN_UNIT = new Set(['cost', 'sum']);

/**
 * The result as a readable table: one figure a line, every number in full (the shortest form that reads back as the
 * same double, as the JSON answer writes it), counts grouped by thousands. Figures with many parts (calibration bins,
 * the state) are summarised: --json gives them whole.
 */
export function formatTable(result: DatasetResult, run: RunSummary): string {
  const unit = typeof result.unit === 'string' ? result.unit : '';
  const rows: [string, string][] = [];
  const keys = [...FIRST.filter((k) => k in result), ...Object.keys(result).filter((k) => !FIRST.includes(k) && k !== 'unit')];
  for (const key of keys) {
    const value = result[key];
    rows.push([key, describe(key, value, unit)]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const what = run.inputs.length === 1 ? run.inputs[0]! : `${run.inputs.length} inputs (${run.inputs.join(', ')})`;
  const lines = run.lines === null ? '' : `${run.lines.toLocaleString('en-US')} lines, `;
  const heading = `${what}: ${lines}${(result.count as number).toLocaleString('en-US')} samples counted, in ${run.seconds.toFixed(1)} s`;
  return `${heading}\n\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`;
}

function describe(key: string, value: unknown, unit: string): string {
  if (value === null) return '-';
  if (typeof value === 'number') {
    if (key === 'count') return value.toLocaleString('en-US');
    return IN_UNIT.has(key) ? `${value} ${unit}` : String(value);
  }
  if (key === 'state') return '(the mergeable state: --json)';
  if (key === 'calibration' && typeof value === 'object') {
    const c = value as { bins?: unknown[]; ece?: number | null; mce?: number | null };
    return `ece ${c.ece ?? '-'}, mce ${c.mce ?? '-'} (${c.bins?.length ?? 0} bins: --json)`;
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${v ?? '-'}`)
      .join(', ');
  }
  return JSON.stringify(value);
}
