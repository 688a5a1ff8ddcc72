import { PassThrough, type Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BodyLimits, Tally } from '../../codec/body.js';
import { costFigures } from '../../codec/figures.js';
import { ProblemError, problemDocument, type ErrorCode, type ProblemDocument } from '../../codec/problems.js';
import { isBlank, ndjsonLines } from '../../codec/ndjson.js';
import { figuresOfState, mergeStates, type ScoreState, type StateOptions } from '../../codec/state.js';
import type { Dispatcher, Scored } from '../../pool/dispatch.js';
import { asProblem, instanceOf, logProblem } from '../errorHandler.js';
import { problemExamples, refusalOf, type Documented } from '../schemas/problemExamples.js';
import { costResponseSchema, jsonSchemaOf, problemSchema } from '../schemas/score.js';

export interface StreamRoutesOptions {
  dispatcher: Dispatcher;
  limits: BodyLimits;
  /** The longest line, in bytes (BODY_LIMIT: a line is a request). */
  lineLimit: number;
}

const NDJSON = 'application/x-ndjson';
/** At most one progress line a second. */
const PROGRESS_EVERY_MS = 1000;

const problemResponse = (description: string, examples: Record<string, Documented>) => ({
  description,
  content: { 'application/problem+json': { schema: jsonSchemaOf(problemSchema), examples: problemExamples(examples, '/cost/stream') } },
});

/** The documented refusals, made by the code that refuses (a line is a /cost request, refused by the codec). */
function streamExamples(limits: BodyLimits): Record<number, Record<string, Documented>> {
  const lineRefusal = refusalOf({ protocol: 'line', bytes: Buffer.from('{"logits": [[0, 1]], "labels": [7]}'), limits }).inLine(3);
  return {
    400: { 'a bad line': { summary: 'Line 3 holds a label out of range: the problem names the line and the place in it', problem: lineRefusal } },
    413: { 'a line too long': { summary: 'A line longer than BODY_LIMIT', problem: lineProblem(2, 'XENT_BODY_TOO_LARGE', '', 'line 2 is longer than 67108864 bytes (BODY_LIMIT, which each line of a stream has)') } },
    415: { 'not NDJSON': { summary: 'Content-Type: application/json', problem: ProblemError.of('XENT_UNSUPPORTED_MEDIA_TYPE', '', `send the dataset as ${NDJSON}, one /cost request a line`) } },
  };
}

/**
 * POST /cost/stream: a dataset as NDJSON, one complete /cost request a line, scored line by line (each on the event
 * loop or in a worker as /cost bodies are) and merged exactly (the lines' states), answered with the dataset's /cost
 * figures. Memory is bounded by the longest line, never the stream: the body is read as it arrives and each line is
 * let go once scored. With `Accept: application/x-ndjson` the answer streams too: progress lines, at most one a
 * second, then a last progress line with the final counts and `{"result": ...}`, or `{"error": ...}` when a line is
 * refused.
 */
export async function streamRoutes(app: FastifyInstance, options: StreamRoutesOptions): Promise<void> {
  // The body stays a stream: no buffering, and no whole-body limit (each line has one).
  app.addContentTypeParser(NDJSON, (_request, payload, done) => done(null, payload));
  const examples = streamExamples(options.limits);

  app.post(
    '/cost/stream',
    {
      config: { scoring: true },
      schema: {
        summary: 'The /cost figures of a whole dataset sent as NDJSON, one request a line',
        description:
          'Body: application/x-ndjson, one complete /cost request (any input form and options) a line; blank lines are skipped, and every line must have the options of the first (else 400 naming the line). The answer is the /cost figures of all the lines as one batch, exact as POST /merge (per-sequence arrays are left out; their batch figures are kept), and `state` when the lines include it. A line longer than BODY_LIMIT is a 413. With Accept: application/x-ndjson the answer streams: `{"progress": {"lines", "samples", "bytes", "cost"}}` at most every second, then a last progress line with the final counts and `{"result": {...}}`, or `{"error": {problem document with "line"}}`. Problems carry `line` (from 1) and a pointer inside that line; nothing of a refused stream is counted. The whole stream must arrive within REQUEST_TIMEOUT_MS, as any request must.',
        tags: ['scoring'],
        body: { content: { [NDJSON]: { schema: { type: 'string', description: 'One JSON /cost request per line.' } } } },
        response: {
          200: {
            description: 'The dataset\'s figures (or, with Accept: application/x-ndjson, progress lines and the result)',
            content: { 'application/json': { schema: jsonSchemaOf(costResponseSchema) }, [NDJSON]: { schema: { type: 'string' } } },
          },
          400: problemResponse('A line that is not a valid request (with `line` and the pointer inside it), or options that differ from the first line\'s', examples[400]!),
          413: problemResponse('A line longer than BODY_LIMIT', examples[413]!),
          415: problemResponse('Content-Type is not application/x-ndjson', examples[415]!),
        },
      },
    },
    async (request, reply) => {
      const body = request.body as Readable | undefined;
      if (body === undefined || typeof (body as Readable).on !== 'function') {
        throw ProblemError.of('XENT_UNSUPPORTED_MEDIA_TYPE', '', `send the dataset as ${NDJSON}, one /cost request a line`);
      }
      const streaming = (request.headers.accept ?? '').includes(NDJSON);
      const scorer = new StreamScorer(options);
      if (!streaming) {
        const result = await scorer.run(body, () => undefined);
        return reply.type('application/json; charset=utf-8').send(result);
      }
      const out = new PassThrough();
      void reply.type(NDJSON).send(out);
      const line = (value: unknown) => out.write(`${JSON.stringify(value)}\n`);
      scorer
        .run(body, (progress) => line({ progress }))
        .then((result) => {
          line({ progress: scorer.progress }); // the final counts, whenever the last progress line was
          line({ result });
        })
        .catch((err: unknown) => line({ error: inlineProblem(err, request) }))
        .finally(() => out.end());
      return reply;
    },
  );
}

/** A problem raised mid-stream, as the document of the final `{"error": ...}` line (the status line was sent: 200). */
function inlineProblem(err: unknown, request: FastifyRequest): ProblemDocument {
  const problem = asProblem(err as Error);
  logProblem(request, problem, err);
  return problemDocument(problem.code, problem.issues, instanceOf(request), problem.line);
}

/** A problem of line `line`. */
function lineProblem(line: number, code: ErrorCode, pointer: string, detail: string): ProblemError {
  return ProblemError.of(code, pointer, detail).inLine(line);
}

interface Progress {
  lines: number;
  samples: number;
  bytes: number;
  cost: number | null;
}

/** Reads a stream line by line, scores each through the dispatcher, and merges their states. */
class StreamScorer {
  #state: ScoreState | null = null;
  #options = '';
  #lines = 0;
  #samples = 0;
  #bytes = 0;
  #lastProgress = performance.now();
  /** The lines' model tallies, added to the model counters only once the whole stream is accepted. */
  readonly #tallies = new Map<string, Tally>();

  constructor(readonly options: StreamRoutesOptions) {}

  /** How far the stream has got. */
  get progress(): Progress {
    return this.#progress();
  }

  async run(body: Readable, progress: (p: Progress) => void): Promise<Record<string, unknown>> {
    try {
      return await this.#run(body, progress);
    } catch (err) {
      // The body ended early: the client went away, or Node cut a stream that took longer than REQUEST_TIMEOUT_MS.
      // A client's doing, not a failure of ours (no 500 logged with its stack); nobody may be left to read the answer.
      const code = (err as NodeJS.ErrnoException).code;
      if (!(err instanceof ProblemError) && (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE')) {
        throw ProblemError.of('XENT_BAD_REQUEST', '', 'the stream ended before its end: the client closed it, or it took longer than REQUEST_TIMEOUT_MS');
      }
      throw err;
    }
  }

  async #run(body: Readable, progress: (p: Progress) => void): Promise<Record<string, unknown>> {
    const lines = ndjsonLines(body as AsyncIterable<Buffer>, this.options.lineLimit, 'BODY_LIMIT, which each line of a stream has', (n) => {
      this.#bytes += n;
    });
    for await (const { bytes, line } of lines) {
      await this.#score(bytes, line);
      if (performance.now() - this.#lastProgress >= PROGRESS_EVERY_MS) {
        this.#lastProgress = performance.now();
        progress(this.#progress());
      }
    }
    if (this.#state === null) throw ProblemError.of('XENT_INVALID_BODY', '', 'the stream holds no request: send one /cost request a line');
    const figures = figuresOfState(this.#state);
    if (figures === null) throw ProblemError.of('XENT_NON_FINITE_RESULT', '', 'the sum of the losses exceeds the float64 range');
    for (const tally of this.#tallies.values()) this.options.dispatcher.observer.modelScored(tally);
    return {
      ...costFigures(figures.summary),
      ...(figures.diagnostics ?? {}),
      ...(figures.sequences ?? {}),
      ...(this.#state.options.include.includes('state') ? { state: this.#state } : {}),
    };
  }

  async #score(bytes: Uint8Array, line: number): Promise<void> {
    if (isBlank(bytes)) return;
    let scored: Scored;
    try {
      const pending = this.options.dispatcher.score({ protocol: 'line', bytes, limits: this.options.limits });
      scored = pending instanceof Promise ? await pending : pending;
    } catch (err) {
      if (err instanceof ProblemError && err.line === undefined) throw err.inLine(line);
      throw err;
    }
    const state = JSON.parse(typeof scored.body === 'string' ? scored.body : Buffer.from(scored.body).toString('utf8')) as ScoreState;
    if (this.#state === null) {
      this.#state = state;
      this.#options = JSON.stringify(state.options);
    } else {
      this.#state = this.#merge(state, line);
    }
    this.#samples += scored.samples;
    this.#lines++;
    if (scored.tally !== null) this.#addTally(scored.tally);
  }

  /** The stream's state with line `line`'s added; a line whose options differ from the first's is refused at the field. */
  #merge(state: ScoreState, line: number): ScoreState {
    const first = this.#state!;
    if (JSON.stringify(state.options) !== this.#options) {
      const key = (Object.keys(state.options) as (keyof StateOptions)[]).find((k) => JSON.stringify(state.options[k]) !== JSON.stringify(first.options[k]))!;
      // The input form is not a field: the whole line is the place (logits or probabilities and target log-probabilities).
      const [pointer, what] = key === 'input' ? ['', 'its input form'] : [`/${key}`, key];
      throw lineProblem(line, 'XENT_STATE_MISMATCH', pointer, `line ${line} differs from line 1 in ${what}: every line of a stream must have the options of the first`);
    }
    try {
      return mergeStates([first, state]);
    } catch (err) {
      // A place inside /merge's states means nothing here: the line is the place.
      if (!(err instanceof ProblemError)) throw err;
      const issue = err.issues[0]!;
      const detail =
        issue.code === 'XENT_STATE_MISMATCH'
          ? `line ${line} and line 1 ask for different sequence figures (sequences, bytes or words on one of them only): every line of a stream must ask for the same`
          : `line ${line}: ${issue.detail}`;
      throw lineProblem(line, issue.code, '', detail);
    }
  }

  #addTally(tally: Tally): void {
    const sum = this.#tallies.get(tally.model);
    if (sum === undefined) {
      this.#tallies.set(tally.model, { ...tally });
      return;
    }
    sum.lossNats += tally.lossNats;
    sum.weight += tally.weight;
    sum.samples += tally.samples;
    sum.correct = sum.correct === null || tally.correct === null ? null : sum.correct + tally.correct;
  }

  #progress(): Progress {
    const figures = this.#state === null ? null : figuresOfState(this.#state);
    return { lines: this.#lines, samples: this.#samples, bytes: this.#bytes, cost: figures?.summary.cost ?? null };
  }
}
