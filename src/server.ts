/**
 * Composition root: database → registry → worker pool → services → REST and gRPC, and graceful
 * shutdown. `createServerCore` builds everything without listening (route tests call `app.handle`,
 * gRPC tests `createGrpcServer`); `startServer` also listens on both ports and prints the
 * `"event":"listening"` line.
 */
import { createGrpcServer } from "./api/grpc/server.ts";
import { createRestApp, type RestApp } from "./api/rest/app.ts";
import type { Readiness } from "./api/readiness.ts";
import type { Config } from "./config.ts";
import { ModelsService } from "./inference/models-service.ts";
import { InferenceService } from "./inference/service.ts";
import { StatusService } from "./inference/status-service.ts";
import { type Jobs, createJobs } from "./inference/jobs/create-jobs.ts";
import { createInspector } from "./lifecycle/inspect.ts";
import { probeProcessRss } from "./lifecycle/memory-probe.ts";
import { WorkerPool } from "./lifecycle/pool.ts";
import { withLoadTimeout } from "./lifecycle/load-timeout.ts";
import { SharedMemory, defaultSharedMemoryDirectory } from "./lifecycle/shared-memory.ts";
import { StandbyWorkers } from "./lifecycle/standby.ts";
import { createWorkerSpawner, type SpawnWorker } from "./lifecycle/worker-process.ts";
import type { Logger } from "./observability/logger.ts";
import { type Tracing, createTracing } from "./observability/tracing.ts";
import { ModelCache } from "./registry/model-cache.ts";
import { ModelRegistry } from "./registry/registry.ts";
import { RegistryLimits } from "./registry/registry-limits.ts";
import { ApiKeys } from "./security/api-keys.ts";
import { assertListenAllowed } from "./security/listen-guard.ts";
import { commaList } from "./security/settings.ts";
import { sourcePolicyFromConfig } from "./security/source-policy.ts";
import { grpcServerCredentials, httpTlsOptions, readTlsMaterial } from "./security/tls.ts";
import type { GrpcAuthOptions } from "./api/grpc/auth.ts";
import { checkHost, checkPortsFree, listenError } from "./runtime/listen-errors.ts";
import { openDataDirDatabase } from "./runtime/open-data-dir.ts";
import { routeGrpcLogs } from "./observability/grpc-log.ts";
import { type Metrics, createMetrics } from "./observability/metrics.ts";
import { schedulerMetricsObserver } from "./observability/scheduler-metrics.ts";
import { registerStatusMetrics } from "./observability/status-metrics.ts";
import { registerJobMetrics } from "./observability/job-metrics.ts";
import { callLogInterceptor } from "./api/grpc/call-log.ts";
import { createGenerationMetrics } from "./observability/generation-metrics.ts";
import { GenerationService } from "./inference/generation/service.ts";

export interface ServerCore {
  app: RestApp;
  pool: WorkerPool;
  models: ModelsService;
  inference: InferenceService;
  /** txt2txt generation (continuous batching in the worker), for REST and gRPC. */
  generation: GenerationService;
  /** What every front end reports about models, memory and queues. */
  status: StatusService;
  /** The arenas request tensors and outputs cross to workers through. */
  sharedMemory: SharedMemory;
  /** What REST `/health/ready`, KServe ServerReady and gRPC health answer from. */
  readiness: Readiness;
  logger: Logger;
  /** API keys and the logger their audit lines go to; gRPC checks them with these. */
  auth: GrpcAuthOptions;
  /** Prometheus metrics, served at /metrics (src/observability/metrics.ts). */
  metrics: Metrics;
  /** Asynchronous jobs: the service front ends call, and the runner claiming them (src/inference/jobs/). */
  jobs: Jobs;
  /** Stops workers and closes the database (the listener, if any, is stopped by the caller). */
  close(): Promise<void>;
  /** Readiness turns 503 and new inference requests get SHUTTING_DOWN; queued ones still run. */
  beginShutdown(): void;
  /**
   * Lists the models whose config says `preload` and starts loading them; readiness answers 503
   * until they have loaded (failures are logged, not fatal). Resolves once the list is known, with
   * the loading still under way (`done` settles when it is over).
   */
  beginPreload(): Promise<{ done: Promise<void> }>;
}

export interface CoreOptions {
  /** Replaces real worker processes (tests); by default they come through shared memory and the standby pool. */
  spawnWorker?: SpawnWorker;
  /** Traces; by default OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else none (tests pass an in-memory exporter). */
  tracing?: Tracing;
  /** Where `MODELMORA_JOB_*` settings are read (src/inference/jobs/job-settings.ts); process.env by default. */
  environment?: Record<string, string | undefined>;
}

export async function createServerCore(config: Config, logger: Logger, { spawnWorker, tracing = createTracing(process.env), environment = process.env }: CoreOptions = {}): Promise<ServerCore> {
  // Locks the data directory (embedded database) until close(); a second server is refused here.
  const database = await openDataDirDatabase({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, command: "serve" });
  const cache = new ModelCache(config.dataDir, {
    maxFileBytes: config.maxModelMb === undefined ? undefined : config.maxModelMb * 1024 * 1024,
    policy: sourcePolicyFromConfig(config, process.env),
  });
  const arenaBytes = Math.round(config.shmMb * 1024 * 1024);
  const sharedMemory = SharedMemory.open({ directory: config.shmDir ?? defaultSharedMemoryDirectory(config.dataDir, arenaBytes), arenaBytes, logger });
  const workerSpawner = withLoadTimeout(
    spawnWorker ??
      createWorkerSpawner(sharedMemory, {
        maxOutputBytes: Math.round(config.maxOutputMb * 1024 * 1024),
        addressSpaceBytes: config.workerMemoryLimitMb === undefined ? undefined : Math.round(config.workerMemoryLimitMb * 1024 * 1024),
      }),
    config.loadTimeoutSeconds * 1000,
  );
  const standby = new StandbyWorkers(workerSpawner, spawnWorker ? 0 : config.standbyWorkers, probeProcessRss);
  const registry = new ModelRegistry(database, cache, createInspector(standby.spawn), new RegistryLimits(config));
  await registry.followChanges();
  const pool = new WorkerPool({
    spawnWorker: standby.spawn,
    inputArenaPath: (key, target) => sharedMemory.inputArena(key, `model "${target.name}" version ${target.version}`).path,
    onUnloaded: (key) => sharedMemory.trimInputArena(key),
    reservedBytes: () => standby.residentBytes(),
    probeMemory: probeProcessRss,
    verifyModelFile: (path, sha256) => cache.verify(path, sha256),
    logger,
    limits: {
      memoryLimitBytes: config.memoryLimitMb === undefined ? undefined : config.memoryLimitMb * 1024 * 1024,
      maxLoadedModels: config.maxLoadedModels,
    },
    watchdogGraceMilliseconds: config.watchdogGraceSeconds * 1000,
  });
  const metrics = createMetrics();
  const inference = new InferenceService(registry, pool, sharedMemory, { observer: schedulerMetricsObserver(metrics), tracing });
  const models = new ModelsService(registry, pool, inference, logger);
  const status = new StatusService(pool, inference, models, sharedMemory);
  const generation = new GenerationService(registry, pool, createGenerationMetrics(metrics.registry));
  const jobs = createJobs({ database, inference, models, dataDir: config.dataDir, logger, environment, policy: sourcePolicyFromConfig(config, process.env) });
  await jobs.start();
  let accepting = true;
  /** Only `beginPreload` makes this false, and only while preload models are loading. */
  let preloaded = true;
  const readiness: Readiness = {
    accepting: () => accepting,
    preloaded: () => preloaded,
    checkDatabase: () => database.ping(),
  };
  const auth = { keys: ApiKeys.from(config), logger };
  const openPaths = new Set(commaList(config.openPaths));
  registerStatusMetrics(metrics, { pool, inference, models });
  registerJobMetrics(metrics, jobs);
  const app = createRestApp({
    models,
    inference,
    status,
    logger,
    maxBodyBytes: config.maxBodyMb * 1024 * 1024,
    readiness,
    auth: { ...auth, openPaths },
    metrics,
    corsOrigins: config.corsOrigins,
    generation,
    jobs: jobs.service,
  });
  return {
    app,
    pool,
    models,
    inference,
    generation,
    status,
    sharedMemory,
    readiness,
    logger,
    auth,
    metrics,
    jobs,
    beginShutdown() {
      accepting = false;
      jobs.stopClaiming();
      inference.stopAccepting();
      generation.stopAccepting();
    },
    async beginPreload() {
      const wanted = (await models.list()).filter((model) => model.config.preload);
      if (wanted.length === 0) return { done: Promise.resolve() };
      preloaded = false;
      const loads = wanted.map((model) =>
        models.load(model.name).then(
          (status) => logger.info({ event: "preloaded", model: model.name, version: status.version, pids: status.pids }, "model preloaded"),
          (error: unknown) => logger.error({ event: "preload_failed", model: model.name, error: error instanceof Error ? error.message : String(error) }, "preload failed"),
        ),
      );
      // Wrapped: an async function returning the promise itself would wait for the loads.
      return { done: Promise.all(loads).then(() => void (preloaded = true)) };
    },
    async close() {
      accepting = false;
      await jobs.close();
      inference.close();
      await Promise.all([pool.close(), standby.close()]);
      sharedMemory.close();
      await tracing.shutdown();
      await database.close();
    },
  };
}

export interface RunningServer {
  httpPort: number;
  grpcPort: number;
  stop(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  // An unknown host is the operator's mistake; found before anything starts (Bun would report it as a busy port).
  await checkHost(config.host);
  checkPortsFree(config.host, [
    { what: "HTTP", port: config.httpPort },
    { what: "gRPC", port: config.grpcPort },
  ]);
  assertListenAllowed(config, ApiKeys.from(config).enabled);
  const tls = readTlsMaterial(config);
  const core = await createServerCore(config, logger);
  // Known before listening, so readiness is never 200 before a preload model is loaded; the loads
  // themselves run after listening, so liveness answers during a long preload.
  await core.beginPreload();
  try {
    // Exclusive: Elysia's Bun adapter asks for SO_REUSEPORT, which lets a second server share the
    // port and take every other request.
    core.app.listen({ hostname: config.host, port: config.httpPort, reusePort: false, ...(tls && { tls: httpTlsOptions(tls) }) });
  } catch (error) {
    await core.close();
    throw listenError(error, "HTTP", config.host, config.httpPort);
  }
  const server = core.app.server!;
  routeGrpcLogs(logger);
  const grpc = createGrpcServer(core, {
    maxMessageBytes: config.grpcMaxMessageMb * 1024 * 1024,
    limits: config,
    auth: core.auth,
    interceptors: [callLogInterceptor(logger, core.metrics)],
    ...(tls && { credentials: grpcServerCredentials(tls) }),
  });
  let grpcPort: number;
  try {
    grpcPort = await grpc.listen(config.host, config.grpcPort);
  } catch (error) {
    // The port is taken or the host cannot be bound: stop what started instead of half-running.
    await server.stop(true);
    await core.close();
    throw listenError(error, "gRPC", config.host, config.grpcPort);
  }
  logger.info(
    {
      event: "listening",
      host: config.host,
      http_port: server.port,
      grpc_port: grpcPort,
      data_dir: config.dataDir,
      database: config.databaseUrl ? "postgres" : "sqlite",
      tls: tls !== undefined,
      api_keys: core.auth.keys.enabled,
    },
    "modelmora listening",
  );
  let stopping: Promise<void> | undefined;
  return {
    httpPort: server.port!,
    grpcPort,
    /**
     * Graceful shutdown: stop listening (HTTP and gRPC) and refuse new inference, let queued and
     * running requests finish (up to the grace period), then stop the workers and close the
     * database. Requests still queued when the grace period ends get SHUTTING_DOWN; their answers
     * get one more second to be written before the remaining connections are cut.
     */
    stop() {
      stopping ??= (async () => {
        core.beginShutdown();
        const connectionsClosed = server.stop(false);
        // grpc-js stops accepting now and lets calls in flight finish; this grace is a backstop,
        // the close(0) below normally comes first.
        const grpcClosed = grpc.close(config.shutdownGraceSeconds * 1000 + 1_000);
        let graceTimer: ReturnType<typeof setTimeout> | undefined;
        const grace = new Promise<"grace_expired">((resolve) => (graceTimer = setTimeout(() => resolve("grace_expired"), config.shutdownGraceSeconds * 1000)));
        const outcome = await Promise.race([core.inference.drained().then(() => "drained" as const), grace]);
        clearTimeout(graceTimer);
        logger.info({ event: "shutdown_drained", outcome }, outcome === "drained" ? "queued requests finished" : "grace period over; dropping what is left");
        await core.close();
        // Answers already computed are written before the remaining connections are closed.
        await Promise.race([Promise.all([connectionsClosed, grpcClosed]), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
        await server.stop(true);
        await grpc.close(0);
        logger.info({ event: "stopped" }, "modelmora stopped");
      })();
      return stopping;
    },
  };
}
