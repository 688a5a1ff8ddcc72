#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DatasetScorer } from './dataset.js';
import { formatTable } from './format.js';
import { InputError, inputsOf, totalSize, UsageError } from './inputs.js';
import { scoreLocally } from './local.js';
import { progressReporter, silentProgress } from './progress.js';
import { scoreRemotely } from './remote.js';

/**
 * `xent score`: the /cost figures of NDJSON datasets (one /cost request a line), scored in this process with the
 * service's codec and kernel, or streamed to a running service (--url). Exit codes: 0 scored, 1 the input could not be
 * scored (the message names the file and line), 2 the command line is wrong.
 */

const EXIT_OK = 0;
const EXIT_INPUT = 1;
const EXIT_USAGE = 2;

/** The service's defaults (BODY_LIMIT, MAX_ELEMENTS), so that a file scored here is one the service would take. */
const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_ELEMENTS = 16_000_000;

interface ScoreFlags {
  url?: URL;
  apiKey?: string;
  json?: boolean;
  progress: boolean;
  progressEvery: number;
  maxLineBytes: number;
  maxElements: number;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds >= 0');
  return n;
}

function serviceUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected an http:// or https:// URL, such as http://localhost:3000');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// URL');
  return url;
}

const EXAMPLES = `
Each line of an input is one complete /cost request (any input form and options: logits or probabilities, labels or
targets, class_weights, label_smoothing, include...; README "The API"), and every line must have the options of the
first. Blank lines are skipped. The inputs are one dataset: the result is the /cost figures of all their lines as one
batch (exact: merged from each line's compensated sums, as POST /merge does), as a table or, with --json, as the JSON
answer of POST /cost/stream.

Progress goes to stderr: a bar on a terminal (lines, samples, bytes, rate, ETA), plain lines elsewhere.

Exit codes: 0 scored; 1 the input could not be scored (a refused line, named by file and line; an unreadable file;
the service refused or cut the stream); 2 a usage error.

Examples:
  $ xent score data.ndjson
  $ xent score --json part-*.ndjson > figures.json
  $ zcat data.ndjson.gz | xent score -
  $ xent score --url http://localhost:3000 data.ndjson`;

async function score(files: string[], flags: ScoreFlags): Promise<number> {
  const started = performance.now();
  const inputs = inputsOf(files);
  const scorer = new DatasetScorer({ maxElements: flags.maxElements });
  let unit: string | null = null;
  const progress = flags.progress
    ? progressReporter({
        stream: process.stderr,
        totalBytes: totalSize(inputs),
        everyMs: flags.progressEvery * 1000,
        unit: () => (flags.url === undefined ? (scorer.lines > 0 ? scorer.unit : null) : unit),
      })
    : silentProgress;
  const result =
    flags.url === undefined
      ? await scoreLocally(inputs, { limits: scorer.limits, maxLineBytes: flags.maxLineBytes, progress, scorer })
      : await scoreRemotely(inputs, { url: flags.url, apiKey: flags.apiKey ?? process.env.XENT_API_KEY, progress, onUnit: (u) => (unit = u) });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    flags.json === true
      ? `${JSON.stringify(result)}\n`
      : formatTable(result, { inputs: inputs.map((i) => i.name), lines: flags.url === undefined ? scorer.lines : null, seconds }),
  );
  return EXIT_OK;
}

export function program(): Command {
  const xent = new Command('xent')
    .description('Exact categorical cross-entropy (PyTorch semantics, float64, within 1e-13 relative) for datasets on the command line.')
    .version(version(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(see xent score --help)');
  xent
    .command('score')
    .description('The /cost figures of NDJSON datasets, scored here with the service\'s own code, or by a running service (--url).')
    .argument('<files...>', 'NDJSON files, one /cost request a line; - reads standard input')
    .addOption(new Option('--url <url>', 'stream the inputs to the service at this address (POST /cost/stream) instead of scoring them here').argParser(serviceUrl))
    .addOption(new Option('--api-key <key>', 'bearer key for --url, when the service has API_KEYS').env('XENT_API_KEY'))
    .option('--json', 'print the result as JSON (the answer of POST /cost/stream) instead of a table')
    .option('--no-progress', 'show no progress on stderr')
    .option('--progress-every <seconds>', 'when stderr is not a terminal: seconds between progress lines', seconds, 5)
    .option('--max-line-bytes <bytes>', 'the longest line accepted, in bytes (the service\'s BODY_LIMIT default)', positiveInteger, DEFAULT_MAX_LINE_BYTES)
    .option('--max-elements <count>', 'the most input numbers in one line (the service\'s MAX_ELEMENTS default)', positiveInteger, DEFAULT_MAX_ELEMENTS)
    .addHelpText('after', EXAMPLES)
    .action(async (files: string[], flags: ScoreFlags, command: Command) => {
      command.setOptionValue('exitCode', await score(files, flags));
    });
  return xent;
}

/** Runs the command line; resolves to the process's exit code. */
export async function main(argv: string[]): Promise<number> {
  const xent = program();
  try {
    await xent.parseAsync(argv);
    const score = xent.commands.find((c) => c.name() === 'score');
    return (score?.getOptionValue('exitCode') as number | undefined) ?? EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (err instanceof UsageError) {
      process.stderr.write(`xent: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof InputError) {
      process.stderr.write(`xent: ${err.describe()}\n`);
      if (xent.commands[0]?.getOptionValue('json') === true) {
        process.stdout.write(`${JSON.stringify({ error: { ...err.problem, ...(err.file === null ? {} : { file: err.file }) } })}\n`);
      }
      return EXIT_INPUT;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv);
