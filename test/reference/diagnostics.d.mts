import type { Dec, ReferenceRequest } from './highPrecision.mjs';

export interface ReferenceRowDiagnostics {
  probability: Dec;
  rank: number;
  entropy: Dec;
  kl: Dec;
  brier: Dec;
  /** Σ |t′_c − q_c| and Σ 2·q_c·|q_c − t_c|: the change of KL and Brier under relative perturbations of the q_c. */
  sensitivity: { kl: number; brier: number };
}

export interface ReferenceDiagnostics {
  /** null for an ignored row */
  rows: (ReferenceRowDiagnostics | null)[];
  count: number;
  /** null when no row is counted */
  mean: { probability: Dec | null; reciprocalRank: Dec | null; entropy: Dec | null; kl: Dec | null; brier: Dec | null };
}

export function referenceDiagnostics(r: ReferenceRequest): ReferenceDiagnostics;
