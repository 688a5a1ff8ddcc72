/**
 * xent/client: a small typed client of xent's inference protocol with binary tensors, for Node (≥ 18) and browsers.
 *
 *     import { XentClient, fp16 } from 'xent/client';
 *     const xent = new XentClient('http://localhost:3000');
 *     const result = await xent.score({ shape: [2, 3], logits: Float32Array.of(2, 1, 0.1, 0.5, 2.5, 0.3), labels: Int32Array.of(0, 1) });
 *     result.cost; // 0.3185…
 */
export { XentClient, XentError, type ScoreRequest, type ScoreResult, type XentClientOptions } from './client.js';
export { bf16, fp16, type FloatData, type HalfTensor, type LabelData } from './tensors.js';
