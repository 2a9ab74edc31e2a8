/**
 * The loader: starts a model version's workers (one load per model at a time, after the evicted
 * models' processes are gone), replaces replicas lost to crashes, and holds restart backoff.
 *
 * Invariants:
 * - a model whose load failed `maxConsecutiveLoadFailures` times in a row (a broken file, a file
 *   that no longer matches its checksum, a failing warm-up) is left `unhealthy` in the table, so it
 *   is never routed to until an explicit `load`; before that, a failed load is forgotten and the next
 *   request tries again after the backoff;
 * - a worker that exits unexpectedly fails only its own in-flight batches (WorkerHandle does that)
 *   and is dropped from its model; the model is forgotten when none is left;
 * - repeated load failures and crashes back off exponentially (backoff.ts).
 */
import { ModelMoraError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { type BackoffPolicy, restartDelayMilliseconds } from "./backoff.ts";
import type { Capacity } from "./capacity.ts";
import type { KeepAlive } from "./keep-alive.ts";
import { type LoadHistory, type LoadTarget, type ModelRef, type ModelRefs, type Replica, replicaCountOf } from "./model-ref.ts";
import { type Clock, nowMilliseconds, sleep } from "../clock.ts";
import { shuttingDown } from "./pool-errors.ts";
import type { LoadedSignature, SpawnWorker, WorkerHandle } from "./worker-process.ts";

export interface LoaderOptions {
  refs: ModelRefs;
  clock: Clock;
  logger: Logger;
  capacity: Capacity;
  keepAlive: KeepAlive;
  spawnWorker: SpawnWorker;
  /** Throws CHECKSUM_MISMATCH unless the file at `path` still hashes to `sha256`. */
  verifyModelFile: (path: string, sha256: string) => Promise<void>;
  /** The input arena a model's workers map (absent: tensors travel inline). */
  inputArenaPath?: (key: string, target: LoadTarget) => string;
  maxConsecutiveLoadFailures: number;
  restartBackoff: BackoffPolicy;
  /** True once the pool began shutting down: a load cut short is not the model's fault. */
  isClosed: () => boolean;
}

export class ModelLoader {
  constructor(private readonly options: LoaderOptions) {}

  /** Milliseconds until the next start of a model with this history may begin (≤ 0: now). */
  backoffRemaining(history: LoadHistory): number {
    const failures = Math.max(history.consecutiveLoadFailures, history.consecutiveCrashes);
    const delay = restartDelayMilliseconds(failures, this.options.restartBackoff);
    return delay === 0 ? 0 : history.lastFailureAtMilliseconds + delay - nowMilliseconds(this.options.clock);
  }

  /**
   * Puts a `loading` reference for `key` in the table and loads it; concurrent callers share the
   * returned promise through `ref.loading`. `evicted` are the stops that make room for it.
   */
  start(key: string, target: LoadTarget, history: LoadHistory, estimateBytes: number, evicted: Promise<void>[], healthCheck: boolean): Promise<ModelRef> {
    const ref: ModelRef = {
      key,
      target,
      history,
      state: "loading",
      replicas: [],
      loading: undefined,
      replenishing: false,
      provider: undefined,
      loadedAt: undefined,
      estimateBytes,
      keepAliveOverrideSeconds: undefined,
      cancelIdleTimer: undefined,
    };
    ref.loading = this.loadInto(ref, evicted, healthCheck);
    this.options.refs.set(ref);
    return ref.loading;
  }

  private async loadInto(ref: ModelRef, evicted: Promise<void>[], healthCheck: boolean): Promise<ModelRef> {
    const { logger, clock, capacity } = this.options;
    const { target, history } = ref;
    try {
      // The evicted processes are gone (their memory returned) before the new one starts.
      await Promise.all(evicted);
      await this.options.verifyModelFile(target.modelPath, target.sha256);
      const signatures = await Promise.all(
        Array.from({ length: replicaCountOf(target) }, () => {
          const { replica, loaded } = this.spawnReplica(ref, healthCheck);
          ref.replicas.push(replica); // visible in status while loading; routing waits for `ready`
          return loaded;
        }),
      );
      const first = signatures[0]!;
      for (const note of first.notes) logger.warn({ event: "provider_fallback", model: target.name, version: target.version }, note);
      Object.assign(ref, { state: "ready", provider: first.provider, loadedAt: new Date(nowMilliseconds(clock)), loading: undefined });
      history.loads++;
      history.consecutiveLoadFailures = 0;
      if (history.restartPending) {
        history.restarts++;
        history.restartPending = false;
      }
      history.measuredBytes = capacity.footprint(ref);
      logger.info(
        {
          event: "model_loaded",
          model: target.name,
          version: target.version,
          pids: ref.replicas.map((replica) => replica.worker.pid),
          provider: first.provider,
          rss_bytes: history.measuredBytes,
          load_ms: Math.round(Math.max(...signatures.map((signature) => signature.loadMilliseconds))),
        },
        "model loaded",
      );
      capacity.enforceBudgetAfterLoad(ref);
      this.options.keepAlive.arm(ref);
      return ref;
    } catch (error) {
      const failure = error instanceof ModelMoraError ? error : new ModelMoraError("MODEL_LOAD_FAILED", String(error));
      const spawned = ref.replicas.map((replica) => replica.worker);
      history.consecutiveLoadFailures++;
      history.lastFailureAtMilliseconds = nowMilliseconds(clock);
      history.lastError = failure.message;
      const unhealthy = history.consecutiveLoadFailures >= this.options.maxConsecutiveLoadFailures;
      Object.assign(ref, { state: "unhealthy", loading: undefined, replicas: [] });
      // Not yet unhealthy: forgotten, so the next request tries again (after the backoff).
      if (!unhealthy) this.options.refs.forget(ref);
      logger.error(
        {
          event: "model_load_failed",
          model: target.name,
          version: target.version,
          error: failure.message,
          consecutive_failures: history.consecutiveLoadFailures,
          unhealthy,
        },
        "model load failed",
      );
      await Promise.all(spawned.map((worker) => worker.terminate()));
      capacity.notify();
      if (this.options.isClosed()) throw shuttingDown(); // cut short by close(), not the model's fault
      throw failure.code === "CHECKSUM_MISMATCH" || failure.code === "MODEL_LOAD_FAILED"
        ? failure
        : new ModelMoraError("MODEL_LOAD_FAILED", failure.message);
    }
  }

  /** Spawns one worker for `ref` and asks it to load the model (with its warm-up run when `healthCheck`). */
  private spawnReplica(ref: ModelRef, healthCheck: boolean): { replica: Replica; loaded: Promise<LoadedSignature> } {
    const { target } = ref;
    const worker = this.options.spawnWorker(`${target.name}@${target.version}`);
    const replica: Replica = { worker, inFlight: 0 };
    this.watchExit(ref, worker);
    const inputArenaPath = this.options.inputArenaPath?.(ref.key, target);
    const loaded = worker.load({
      modelPath: target.modelPath,
      device: target.config.device,
      intraOpThreads: target.config.intraOpThreads,
      ...(!target.config.enableCpuMemArena && { enableCpuMemArena: false }),
      healthCheck,
      warmupShapes: target.config.warmupShapes,
      ...(inputArenaPath !== undefined && { inputArenaPath }),
    });
    return { replica, loaded };
  }

  /**
   * Replaces replicas lost to crashes, in the background, after the backoff; requests keep using
   * the replicas left. A replacement joins routing only once it has loaded.
   */
  async replenish(ref: ModelRef): Promise<void> {
    ref.replenishing = true;
    const { refs, logger } = this.options;
    const { target, history } = ref;
    try {
      const backoffMilliseconds = this.backoffRemaining(history);
      if (backoffMilliseconds > 0) await sleep(this.options.clock, backoffMilliseconds);
      while (refs.isCurrent(ref) && ref.state === "ready" && ref.replicas.length < replicaCountOf(target)) {
        const { replica, loaded } = this.spawnReplica(ref, true);
        try {
          await loaded;
        } catch (error) {
          await replica.worker.terminate();
          throw error;
        }
        if (!refs.isCurrent(ref)) {
          await replica.worker.terminate(); // unloaded meanwhile
          return;
        }
        ref.replicas.push(replica);
        history.restarts++;
        history.restartPending = false;
        logger.info(
          { event: "replica_restarted", model: target.name, version: target.version, pids: ref.replicas.map((each) => each.worker.pid) },
          "lost replica replaced",
        );
      }
    } catch (error) {
      history.consecutiveCrashes++;
      history.lastFailureAtMilliseconds = nowMilliseconds(this.options.clock);
      history.lastError = error instanceof Error ? error.message : String(error);
      logger.error(
        { event: "replica_restart_failed", model: target.name, version: target.version, error: history.lastError },
        "lost replica could not be replaced; the next request tries again",
      );
    } finally {
      ref.replenishing = false;
    }
  }

  /** A replica that exits while its model is ready is dropped; the model is forgotten when none is left. */
  private watchExit(ref: ModelRef, worker: WorkerHandle): void {
    void worker.exited.then((exit) => {
      if (!this.options.refs.isCurrent(ref) || ref.state !== "ready") return;
      if (!ref.replicas.some((replica) => replica.worker === worker)) return;
      const { history } = ref;
      history.consecutiveCrashes++;
      history.lastFailureAtMilliseconds = nowMilliseconds(this.options.clock);
      history.restartPending = true;
      history.lastError = `worker ${worker.pid} exited unexpectedly (${exit.signalCode ? `signal ${exit.signalCode}` : `exit code ${exit.exitCode}`})`;
      this.dropReplica(ref.key, worker.pid);
      this.options.logger.warn(
        { event: "worker_exited", model: ref.target.name, version: ref.target.version, pid: worker.pid, exit_code: exit.exitCode, signal: exit.signalCode },
        "worker exited unexpectedly; the next request starts a replacement",
      );
    });
  }

  /** Drops the replica with `pid` (if its model is ready and holds it); forgets the model when it was the last. */
  dropReplica(key: string, pid: number): void {
    const { refs } = this.options;
    const ref = refs.get(key);
    if (ref?.state !== "ready") return;
    ref.replicas = ref.replicas.filter((replica) => replica.worker.pid !== pid);
    if (ref.replicas.length > 0) return;
    this.options.keepAlive.cancel(ref);
    refs.delete(key);
    this.options.capacity.notify();
  }
}
