import cluster from 'node:cluster';
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { isPrimaryOfSeveral, metricsOfEveryProcess, onShutdownRequest, runPrimary } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';
import { logDestination } from './logging.js';
import { listenFailure, nodeNotice, startBanner } from './startup.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`xent: ${err.message}\n`);
  process.exit(1);
}

// HTTP_PROCESSES > 1: this process forks the HTTP processes, watches them and exits when they have (cluster.ts).
if (isPrimaryOfSeveral(config)) process.exit(await runPrimary(config));

const logStream = await logDestination();
const app = await buildApp(config, {
  ...(logStream === undefined ? {} : { logStream }),
  ...(cluster.isWorker ? { metricsSource: metricsOfEveryProcess } : {}),
});

// SIGTERM / SIGINT: readiness turns 503 at once; after SHUTDOWN_DRAIN_MS (time for load balancers to notice) the
// listener closes, in-flight requests finish, the pool closes, exit 0. Past SHUTDOWN_TIMEOUT_MS in all, exit 1.
const { shutdownDrainMs } = config;
let shuttingDown = false;
const grace = closeWithGrace({ delay: config.shutdownTimeoutMs + shutdownDrainMs, logger: app.log }, async ({ signal, err }) => {
  shuttingDown = true;
  if (err !== undefined) app.log.error({ err }, 'shutting down after an error');
  else app.log.info({ signal, drainMs: shutdownDrainMs }, 'shutting down');
  app.markNotReady();
  if (shutdownDrainMs > 0) await new Promise((resolve) => setTimeout(resolve, shutdownDrainMs));
  await app.close();
});
// One of several HTTP processes: the primary's request to drain is this process's SIGTERM, unless one came first.
if (cluster.isWorker) onShutdownRequest(() => shuttingDown || grace.close());

try {
  await app.listen({ port: config.port, host: config.host, listenTextResolver: startBanner(config) });
} catch (err) {
  const line = listenFailure(err, config);
  if (line === null) throw err;
  process.stderr.write(`xent: ${line}\n`);
  process.exit(1);
}
const notice = nodeNotice(process.version);
if (notice !== null) app.log.warn(notice);
