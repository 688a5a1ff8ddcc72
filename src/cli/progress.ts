import cliProgress from 'cli-progress';

/** How far a run has got. `bytes` are the input's bytes read so far (sent, with --url). */
export interface ProgressFigures {
  lines: number;
  samples: number;
  bytes: number;
  cost: number | null;
}

export interface ProgressReporter {
  update(figures: ProgressFigures): void;
  /** The run is over: the bar is drawn one last time, or a closing line written. */
  stop(figures: ProgressFigures, finished: boolean): void;
}

export interface ProgressOptions {
  /** Where progress goes (stderr: stdout carries the result). */
  stream: NodeJS.WriteStream;
  /** The input's size in bytes when known (regular files), for the percentage and the ETA. */
  totalBytes: number | null;
  /** Off a terminal: the least time between two progress lines. */
  everyMs: number;
  /** The unit of the cost, once known. */
  unit: () => string | null;
}

/**
 * Progress on stderr: on a terminal a bar redrawn in place (cli-progress: lines, samples, bytes, rate, ETA from the
 * input's size); elsewhere (a log, CI, a pipe) plain lines, at most one every `everyMs`, and a closing one.
 */
export function progressReporter(options: ProgressOptions): ProgressReporter {
  return options.stream.isTTY ? new BarProgress(options) : new LineProgress(options);
}

/** No progress at all (--no-progress). */
export const silentProgress: ProgressReporter = { update() {}, stop() {} };

const number = (n: number) => n.toLocaleString('en-US');

/** Bytes in decimal units, as rates are given (MB = 10^6 bytes). */
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  const [value, unit] = bytes < 1e6 ? [bytes / 1e3, 'kB'] : bytes < 1e9 ? [bytes / 1e6, 'MB'] : [bytes / 1e9, 'GB'];
  return `${value.toFixed(value < 10 ? 2 : 1)} ${unit}`;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

const costText = (cost: number | null, unit: string | null) => (cost === null ? '' : `cost ${cost.toPrecision(6)}${unit === null ? '' : ` ${unit}`}`);

class BarProgress implements ProgressReporter {
  readonly #bar: cliProgress.SingleBar;
  readonly #start = performance.now();

  constructor(readonly options: ProgressOptions) {
    const known = options.totalBytes !== null && options.totalBytes > 0;
    this.#bar = new cliProgress.SingleBar(
      {
        stream: options.stream,
        format: known
          ? '{bar} {percentage}% | {lines} lines | {samples} samples | {size} | {rate} | ETA {eta_formatted} | {cost}'
          : '{lines} lines | {samples} samples | {size} | {rate} | {cost}',
        hideCursor: true,
        barsize: 24,
        fps: 5,
        etaBuffer: 64,
        etaAsynchronousUpdate: true,
        gracefulExit: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.#bar.start(known ? options.totalBytes! : 1, 0, this.#payload({ lines: 0, samples: 0, bytes: 0, cost: null }));
  }

  #payload(f: ProgressFigures) {
    const seconds = (performance.now() - this.#start) / 1000;
    const total = this.options.totalBytes;
    return {
      lines: number(f.lines),
      samples: number(f.samples),
      size: total === null ? formatBytes(f.bytes) : `${formatBytes(f.bytes)} of ${formatBytes(total)}`,
      rate: `${formatBytes(seconds > 0 ? f.bytes / seconds : 0)}/s`,
      cost: costText(f.cost, this.options.unit()),
    };
  }

  update(f: ProgressFigures): void {
    const total = this.options.totalBytes;
    this.#bar.update(total === null || total === 0 ? 0 : Math.min(f.bytes, total), this.#payload(f));
  }

  stop(f: ProgressFigures): void {
    this.update(f);
    this.#bar.stop();
  }
}

class LineProgress implements ProgressReporter {
  readonly #start = performance.now();
  #last = performance.now();

  constructor(readonly options: ProgressOptions) {}

  #line(f: ProgressFigures, prefix: string): string {
    const seconds = (performance.now() - this.#start) / 1000;
    const rate = seconds > 0 ? f.bytes / seconds : 0;
    const total = this.options.totalBytes;
    const parts = [`${number(f.lines)} lines`, `${number(f.samples)} samples`];
    if (total !== null && total > 0) {
      parts.push(`${formatBytes(f.bytes)} of ${formatBytes(total)} (${Math.floor((100 * Math.min(f.bytes, total)) / total)}%)`);
    } else {
      parts.push(formatBytes(f.bytes));
    }
    parts.push(`${formatBytes(rate)}/s`);
    if (prefix === '' && total !== null && rate > 0 && f.bytes < total) parts.push(`ETA ${formatSeconds((total - f.bytes) / rate)}`);
    if (prefix !== '') parts.push(`in ${formatSeconds(seconds)}`);
    const cost = costText(f.cost, this.options.unit());
    if (cost !== '') parts.push(cost);
    return `xent: ${prefix}${parts.join(', ')}\n`;
  }

  update(f: ProgressFigures): void {
    const now = performance.now();
    if (now - this.#last < this.options.everyMs) return;
    this.#last = now;
    this.options.stream.write(this.#line(f, ''));
  }

  stop(f: ProgressFigures, finished: boolean): void {
    this.options.stream.write(this.#line(f, finished ? 'scored ' : 'stopped after '));
  }
}
