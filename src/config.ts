import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseByteSize } from './byteSize.js';

/**
 * Which proxies in front of the service are trusted to say who the client is (X-Forwarded-For, X-Forwarded-Proto,
 * X-Forwarded-Host): false (no one; the client is the TCP peer), true (every hop; only behind a proxy that overwrites
 * the header), a number of hops, or addresses and CIDR ranges of the trusted proxies. What Fastify's `trustProxy` takes,
 * from one environment variable.
 */
export type TrustProxy = boolean | number | string[];

/** proxy-addr's named ranges: 127.0.0.0/8 and ::1; 169.254.0.0/16 and fe80::/10; 10/8, 172.16/12, 192.168/16 and fc00::/7. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An address, an address/prefix-length range, or one of proxy-addr's named ranges. */
function isTrustEntry(entry: string): boolean {
  if (NAMED_RANGES.has(entry)) return true;
  const slash = entry.indexOf('/');
  if (slash === -1) return isIP(entry) !== 0;
  const family = isIP(entry.slice(0, slash));
  const bits = entry.slice(slash + 1);
  return family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY: `false` (the default) or `true`; a hop count (`1`: the address the nearest proxy saw; `0` is false);
 * or a comma-separated list of proxy addresses, CIDR ranges and the names loopback, linklocal, uniquelocal.
 */
export const trustProxySchema = z
  .string()
  .default('false')
  .transform((value, ctx): TrustProxy => {
    const text = value.trim();
    if (/^(false|true)$/i.test(text)) return text.toLowerCase() === 'true';
    if (/^\d+$/.test(text)) {
      const hops = Number(text);
      if (hops <= 100) return hops === 0 ? false : hops;
      ctx.addIssue({ code: 'custom', message: 'a hop count must be at most 100' });
      return z.NEVER;
    }
    const entries = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
    const invalid = entries.filter((e) => !isTrustEntry(e));
    if (entries.length === 0 || invalid.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `expected true, false, a hop count, or comma-separated addresses, CIDR ranges, loopback, linklocal or uniquelocal${invalid.length > 0 ? ` (not one: ${JSON.stringify(invalid[0]!.slice(0, 60))})` : ''}`,
      });
      return z.NEVER;
    }
    return entries;
  });

const integer = (min: number, fallback: number) => z.coerce.number().int().min(min).default(fallback);

/** A byte count, plain or with a unit in powers of 1024 (`67108864`, `64mb`, `1.5gb`), at least `min`. */
const byteCount = (min: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((value, ctx): number => {
      if (value === undefined) return fallback;
      const bytes = parseByteSize(value);
      if (bytes === null) {
        ctx.addIssue({ code: 'custom', message: 'expected a byte count such as 67108864, 64mb or 1gb (kb, mb, gb are powers of 1024)' });
        return z.NEVER;
      }
      if (bytes < min) {
        ctx.addIssue({ code: 'custom', message: `must be at least ${min} bytes` });
        return z.NEVER;
      }
      return bytes;
    });

/** The environment the service reads, with defaults; every variable is documented in the README and .env.example. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HTTP_PROCESSES: integer(1, 1).pipe(z.number().max(64)),
  WORKERS: integer(1, availableParallelism()),
  BODY_LIMIT: byteCount(1024, 64 * 1024 * 1024),
  MAX_ELEMENTS: integer(1, 16_000_000),
  INLINE_MAX_BYTES: integer(0, 256 * 1024),
  // Before 0.2 decoded inference requests were routed by numbers: still accepted, as INLINE_MAX_BYTES = 8 × n.
  INLINE_MAX_ELEMENTS: z.coerce.number().int().min(0).optional(),
  MAX_QUEUE: integer(0, 64),
  WORKER_MAX_MEMORY_MB: integer(64, 1024),
  WORKER_NICE: integer(0, 10).pipe(z.number().max(19)),
  REQUEST_TIMEOUT_MS: integer(0, 30_000),
  SHUTDOWN_TIMEOUT_MS: integer(100, 10_000),
  SHUTDOWN_DRAIN_MS: integer(0, 0),
  MAX_EVENT_LOOP_DELAY_MS: integer(0, 1000),
  API_KEYS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((k) => k.trim()).filter((k) => k !== ''))
    .refine((keys) => keys.every((k) => k.length >= 16), 'every key must be at least 16 characters'),
  RATE_LIMIT: integer(0, 0),
  MAX_MODELS: integer(0, 50),
  RATE_LIMIT_WINDOW_MS: integer(1000, 60_000),
  TRUST_PROXY: trustProxySchema,
});

export interface Config {
  port: number;
  host: string;
  logLevel: string;
  /**
   * HTTP processes sharing the port (node:cluster); 1 = this process serves HTTP itself. Each process has its own
   * scoring pool, its share of `workers`.
   */
  httpProcesses: number;
  /** Worker threads in the scoring pool; with several HTTP processes, in all of their pools together. */
  workers: number;
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Most numbers one request's input tensor may hold. */
  maxElements: number;
  /**
   * Request bodies (either protocol, after decompression) up to this many bytes are decoded and scored on the event
   * loop; larger ones are decoded and scored in a worker, from their raw bytes.
   */
  inlineMaxBytes: number;
  /** Tasks waiting for a worker beyond which requests are refused with 503. */
  maxQueue: number;
  /** Heap limit of each worker thread, MB. */
  workerMaxMemoryMb: number;
  /** Linux nice value of the worker threads (0-19): above 0 the event loop wins the CPU over scoring. */
  workerNice: number;
  /** A scoring request still unanswered after this long gets a 503 (0 = no limit). */
  requestTimeoutMs: number;
  /** How long a graceful shutdown may take before the process exits anyway. */
  shutdownTimeoutMs: number;
  /** After a signal, how long readiness says 503 while still serving, before the listener closes. */
  shutdownDrainMs: number;
  /** Event-loop delay beyond which scoring requests get 503 (0 = no check). */
  maxEventLoopDelayMs: number;
  /** Bearer keys accepted on the scoring routes; empty = no authentication. */
  apiKeys: readonly string[];
  /** Scoring requests per client (API key, else IP address) per window; 0 = unlimited. */
  rateLimit: number;
  rateLimitWindowMs: number;
  /** Distinct `model` names with their own metric labels; beyond, they count as "_other". */
  maxModels: number;
  /** What the service should say about its configuration at start (a deprecated variable and what it became). */
  notices: readonly string[];
  /** Proxies trusted to name the client in X-Forwarded-For (its address is its rate-limit bucket without API keys). */
  trustProxy: TrustProxy;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment once into a frozen config; an invalid value throws a ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const present = Object.fromEntries(Object.keys(envSchema.shape).flatMap((k) => (env[k] === undefined || env[k] === '' ? [] : [[k, env[k]]])));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    // API_KEYS is a secret: name it, never echo it.
    const shown = (k: string) => (k === 'API_KEYS' ? '(hidden)' : JSON.stringify(present[k]));
    const lines = parsed.error.issues.map((i) => `${String(i.path[0])}=${shown(String(i.path[0]))}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const notices: string[] = [];
  let inlineMaxBytes = e.INLINE_MAX_BYTES;
  if (e.INLINE_MAX_ELEMENTS !== undefined) {
    if (present.INLINE_MAX_BYTES === undefined) inlineMaxBytes = 8 * e.INLINE_MAX_ELEMENTS;
    notices.push(
      `INLINE_MAX_ELEMENTS is deprecated: bodies of both protocols are routed by size, INLINE_MAX_BYTES (now ${inlineMaxBytes}${present.INLINE_MAX_BYTES === undefined ? ` = 8 × INLINE_MAX_ELEMENTS, the bytes of that many FP64 numbers` : ', which was also set and wins'})`,
    );
  }
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    httpProcesses: e.HTTP_PROCESSES,
    workers: e.WORKERS,
    bodyLimit: e.BODY_LIMIT,
    maxElements: e.MAX_ELEMENTS,
    inlineMaxBytes,
    maxQueue: e.MAX_QUEUE,
    workerMaxMemoryMb: e.WORKER_MAX_MEMORY_MB,
    workerNice: e.WORKER_NICE,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
    maxEventLoopDelayMs: e.MAX_EVENT_LOOP_DELAY_MS,
    apiKeys: Object.freeze(e.API_KEYS),
    rateLimit: e.RATE_LIMIT,
    rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
    maxModels: e.MAX_MODELS,
    notices: Object.freeze(notices),
    trustProxy: e.TRUST_PROXY,
  });
}
