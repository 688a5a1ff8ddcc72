import type { Decimal } from 'decimal.js';

export type Dec = Decimal;
export const PRECISION: number;
export const D: typeof Decimal;

export interface ReferenceRequest {
  kind: 'logits' | 'probabilities';
  /** rows of C values */
  input: number[][];
  labels?: number[];
  targets?: number[][];
  classWeights?: number[];
  /** a weight per row: multiplies the row's loss and its share of the total weight */
  sampleWeights?: number[];
  /** probabilities only: divide each row by its (exact) sum before clipping */
  renormalize?: boolean;
  ignoreIndex?: number;
  labelSmoothing?: number;
  epsilon?: number;
}

export interface ReferenceResult {
  losses: Dec[];
  sum: Dec;
  totalWeight: Dec;
  count: number;
  correct: number;
  cost: Dec | null;
}

export function exact(x: number): Dec;
export function referenceCrossEntropy(r: ReferenceRequest): ReferenceResult;
export function relativeError(got: number, want: Dec): number;
export function agrees(got: number, want: Dec, tolerance: number): boolean;
