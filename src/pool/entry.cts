/**
 * Piscina's worker entry (compiled to dist/pool/entry.cjs). It is CommonJS on purpose, and it loads the ES module
 * that holds the handler (`workerData.module`: dist/pool/worker.js, or a test's fault injector) with `import()`.
 *
 * Why: piscina loads its `filename` with `require()`, and a `require()` of an ES module ("require(esm)") instantiates
 * the module graph through ModuleWrap::InstantiateSync. On Node 20.19-20.x, 22.x and 24.0-24.8, if the worker is
 * terminated (pool.close()/destroy(), an aborted task, a killed worker being replaced) while that instantiation runs,
 * InstantiateSync goes on to call v8::Module::IsGraphAsync() on the uninstantiated module and V8 aborts the whole
 * process: "FATAL ERROR: v8::Module::IsGraphAsync must be used on an instantiated module" (fixed in Node 24.9 by
 * nodejs/node#59703). `import()` instantiates through the asynchronous path, which a termination merely stops.
 * Requiring this file is plain CommonJS, so no ES module is ever loaded by require() in a pool worker.
 *
 * The export is a promise of the handler: piscina awaits it before it reports the worker ready, so a worker takes
 * jobs only once the module has been loaded, as before. A getter, so that a failed import is reported through the
 * handler piscina asks for, never as an unhandled rejection.
 */
type Handler = (typeof import('./worker.js'))['default'];

const loaded: Promise<Handler> = import('node:worker_threads')
  .then(({ workerData }) => import((workerData as { module: string }).module) as Promise<{ default: Handler }>)
  .then((m) => m.default);

export = {
  // Tells piscina's interop helper to take this object as the module's exports as it is.
  __esModule: true,
  get default() {
    return loaded;
  },
};
