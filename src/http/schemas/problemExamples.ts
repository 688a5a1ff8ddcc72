import { scoreBody, type BodyJob } from '../../codec/body.js';
import { ProblemError, problemDocument } from '../../codec/problems.js';
import { inferenceErrorOf } from '../inferenceAnswers.js';

/**
 * Error examples for the OpenAPI document, made by the service's own code so that they are what it answers: a
 * refusal is the codec's verdict on the documented request, and every other problem comes from the factory its
 * route or guard throws. An example whose request a default app answers carries it as `x-request`;
 * test/http/openapi.test.ts sends each and compares the answer with the example, byte for byte.
 */

/** A request that provokes a documented answer on the default configuration. */
export interface ExampleRequest {
  method: 'POST' | 'GET';
  url: string;
  headers?: Record<string, string>;
  /** A JSON body, sent as JSON text. */
  body?: unknown;
}

export interface Documented {
  summary: string;
  problem: ProblemError;
  request?: ExampleRequest;
}

/** The codec's refusal of a JSON body: the issues the service answers that body with. */
export function refusalOf(job: BodyJob): ProblemError {
  const outcome = scoreBody(job);
  if (outcome.ok) throw new Error('a documented refusal was accepted');
  return new ProblemError(outcome.issues);
}

const withRequest = (request: ExampleRequest | undefined) => (request === undefined ? {} : { 'x-request': request });

/** OpenAPI media-type examples of problem documents at `instance`, by name. */
export function problemExamples(examples: Record<string, Documented>, instance: string): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(examples).map(([name, e]) => [
      name,
      { summary: e.summary, value: problemDocument(e.problem.code, e.problem.issues, instance, e.problem.line), ...withRequest(e.request) },
    ]),
  );
}

/** OpenAPI media-type examples of the inference protocol's error objects, by name. */
export function inferenceErrorExamples(examples: Record<string, Documented>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(examples).map(([name, e]) => [name, { summary: e.summary, value: inferenceErrorOf(e.problem), ...withRequest(e.request) }]),
  );
}
