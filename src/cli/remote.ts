import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { DatasetResult } from './dataset.js';
import { InputError, isProblemDocument, type Input } from './inputs.js';
import type { ProgressFigures, ProgressReporter } from './progress.js';

export interface RemoteOptions {
  /** The service's address (`http://host:3000`, or the full URL of its POST /cost/stream). */
  url: URL;
  apiKey: string | undefined;
  progress: ProgressReporter;
  /** Told the unit of the figures when the first result or progress line names it. */
  onUnit?: (unit: string) => void;
}

const NDJSON = 'application/x-ndjson';

/** Where each input's lines are in the one stream sent: its first line's number there, and how many it has. */
interface Span {
  file: string;
  first: number;
  lines: number;
}

/** The URL of POST /cost/stream of the service at `base`. */
export function streamUrl(base: URL): URL {
  if (base.pathname.endsWith('/cost/stream')) return base;
  return new URL('cost/stream', base.href.endsWith('/') ? base.href : `${base.href}/`);
}

/**
 * Streams the inputs, one after the other, as one NDJSON body to a running service's POST /cost/stream with
 * `Accept: application/x-ndjson`, reading its progress lines as they come and answering with its result line. A
 * refused line (the service's `error` line) is an InputError naming the file and the line within it; the upload stops
 * as soon as the service has answered.
 */
export async function scoreRemotely(inputs: Input[], options: RemoteOptions): Promise<DatasetResult> {
  const target = streamUrl(options.url);
  const client = target.protocol === 'https:' ? https : http;
  const request = client.request(target, {
    method: 'POST',
    headers: {
      'content-type': NDJSON,
      accept: NDJSON,
      ...(options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` }),
    },
  });
  const spans: Span[] = [];
  const figures: ProgressFigures = { lines: 0, samples: 0, bytes: 0, cost: null };
  const started = performance.now();
  const answer = readAnswer(request, figures, options);
  // The upload stops when the answer is complete (a result or a refused line) or the connection fails.
  let answered = false;
  answer.then(
    () => (answered = true),
    () => (answered = true),
  );
  const upload = send(request, inputs, spans, figures, options.progress, () => answered);
  upload.catch(() => {}); // its failure shows as the answer's
  let result: DatasetResult;
  try {
    result = await answer;
  } catch (err) {
    request.destroy();
    options.progress.stop(figures, false);
    if (err instanceof RefusedLine) throw inFile(err.problem, spans);
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
      throw InputError.plain('XENT_BAD_REQUEST', `cannot reach the service at ${target.origin}: ${(err as Error).message}`, null, false);
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    throw InputError.plain(
      'XENT_BAD_REQUEST',
      `the service at ${target.origin} closed the stream without an answer after ${seconds} s (${(err as Error).message}); ` +
        'a stream must reach the service within its REQUEST_TIMEOUT_MS (30 s by default): raise it, split the dataset, or score here without --url',
      null,
      false,
    );
  }
  options.progress.stop(figures, true);
  return result;
}

/** The service's error line, with the number of the line in the whole stream. */
class RefusedLine extends Error {
  constructor(readonly problem: InputError['problem']) {
    super(problem.detail);
  }
}

/** A problem of line `line` of the whole stream, as the problem of that line of the file it is in. */
function inFile(problem: InputError['problem'], spans: Span[]): InputError {
  const line = problem.line;
  if (line === undefined || spans.length === 0) return new InputError(problem, spans.length === 1 ? spans[0]!.file : null);
  const span = spans.find((s) => line < s.first + s.lines) ?? spans.at(-1)!;
  return new InputError({ ...problem, line: line - span.first + 1 }, span.file);
}

async function send(request: ClientRequest, inputs: Input[], spans: Span[], figures: ProgressFigures, progress: ProgressReporter, answered: () => boolean): Promise<void> {
  let next = 1; // the number, in the whole stream, of the next line
  let endsInNewline = true;
  for (const input of inputs) {
    const span: Span = { file: input.name, first: next, lines: 0 };
    spans.push(span);
    if (!endsInNewline) {
      request.write('\n');
    }
    let newlines = 0;
    let last = -1;
    try {
      for await (const piece of input.open()) {
        if (answered()) return;
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) newlines++;
        if (chunk.length > 0) last = chunk[chunk.length - 1]!;
        figures.bytes += chunk.length;
        progress.update(figures);
        if (!request.write(chunk)) await drained(request);
      }
    } catch (err) {
      request.destroy();
      throw InputError.of(err, input.name);
    }
    endsInNewline = last === -1 || last === 0x0a;
    span.lines = newlines + (endsInNewline ? 0 : 1);
    next += span.lines;
  }
  request.end();
}

/** Resolves when the request can take more bytes, or is closed. */
function drained(request: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      request.off('drain', done);
      request.off('close', done);
      resolve();
    };
    request.on('drain', done);
    request.on('close', done);
  });
}

function readAnswer(request: ClientRequest, figures: ProgressFigures, options: RemoteOptions): Promise<DatasetResult> {
  return new Promise((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (response: IncomingMessage) => {
      response.on('error', reject);
      const type = response.headers['content-type'] ?? '';
      if (response.statusCode !== 200 || !type.startsWith(NDJSON)) {
        void wholeBody(response).then((text) => reject(refusal(response.statusCode ?? 0, text)), reject);
        return;
      }
      let pending = '';
      let settled = false;
      response.setEncoding('utf8');
      response.on('data', (text: string) => {
        pending += text;
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.trim() === '') continue;
          const message = JSON.parse(line) as { progress?: ProgressFigures; result?: DatasetResult; error?: unknown };
          if (message.progress !== undefined) {
            // The service's counts; the bytes are those sent from here, which the bar measures against the files.
            figures.lines = message.progress.lines;
            figures.samples = message.progress.samples;
            figures.cost = message.progress.cost;
            options.progress.update(figures);
          } else if (message.result !== undefined) {
            settled = true;
            figures.cost = typeof message.result.cost === 'number' ? message.result.cost : null;
            if (typeof message.result.unit === 'string') options.onUnit?.(message.result.unit);
            resolve(message.result);
          } else if (isProblemDocument(message.error)) {
            settled = true;
            reject(new RefusedLine(message.error));
          }
        }
      });
      response.on('end', () => {
        if (!settled) reject(new Error('the answer ended before its result line'));
      });
      response.on('close', () => {
        if (!settled) reject(new Error('the connection closed before the result line'));
      });
    });
  });
}

async function wholeBody(response: IncomingMessage): Promise<string> {
  let text = '';
  response.setEncoding('utf8');
  for await (const piece of response) text += piece as string;
  return text;
}

/** An answer other than a stream of lines: the service's problem document (401, 415, 429...), or what it said. */
function refusal(status: number, text: string): InputError {
  try {
    const problem = JSON.parse(text) as unknown;
    if (isProblemDocument(problem)) return new InputError(problem, null);
  } catch {
    // not JSON: quoted below
  }
  return InputError.plain('XENT_BAD_REQUEST', `the service answered ${status}: ${text.slice(0, 200)}`, null, false);
}
