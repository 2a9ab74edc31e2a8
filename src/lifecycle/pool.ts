/**
 * The worker pool: `replicas` worker processes per loaded model version, spawned lazily on first
 * use. Only the pool creates, routes to, and stops workers. This file is the pool's public face and
 * its one path in (`acquire`) and out (`stop`); the parts, after ollama's scheduler (`server/sched.go`):
 * - model-ref.ts: the reference to one model version (state, replicas and their in-flight counts,
 *   keep-alive wish) and the table of references and histories;
 * - keep-alive.ts: the idle timer that unloads a model after its keep-alive;
 * - loader.ts: loading, replacing lost replicas, restart backoff;
 * - capacity.ts: the pool's side of admission (measuring, evicting, waiting for room);
 * - routing.ts: which replica runs a batch;
 * - worker-status.ts: the status view.
 *
 * Invariants:
 * - at most one load of a model version runs at a time; concurrent callers share it;
 * - a load starts only when the model fits the memory budget and the loaded-models cap, after the
 *   idle models evicted to make room are gone (least recently used first; a model with work in
 *   flight is never evicted); otherwise the caller waits for room until its deadline;
 * - an `unhealthy` model is never routed to, until an explicit `load`;
 * - a lost replica is replaced on the next request, and when none is left the next request loads
 *   the model again; repeated failures back off exponentially;
 * - every unload, eviction and keep-alive expiry goes through `stop`.
 */
import type { Logger } from "../observability/logger.ts";
import type { TransportTensor } from "../../workers/protocol.ts";
import type { AdmissionLimits } from "./admission.ts";
import { type BackoffPolicy, DEFAULT_RESTART_BACKOFF } from "./backoff.ts";
import { Capacity } from "./capacity.ts";
import { KeepAlive } from "./keep-alive.ts";
import { ModelLoader } from "./loader.ts";
import type { ProbeMemory } from "./memory-probe.ts";
import { type LoadTarget, type ModelRef, ModelRefs, replicaCountOf, type WorkerState } from "./model-ref.ts";
import { modelKey } from "./model-key.ts";
import { type Clock, nowMilliseconds, sleep, systemClock } from "../clock.ts";
import { insufficientMemory, shuttingDown, unhealthyModel } from "./pool-errors.ts";
import { leastBusy } from "./routing.ts";
import { describeModel, describeUnloaded, type WorkerStatus } from "./worker-status.ts";
import { underWatchdog, type WatchdogSettings } from "./watchdog.ts";
import { type GenerationHandle, type InferResult, type SpawnWorker, WorkerGoneError } from "./worker-process.ts";
import type { GenerateSettings, SequenceStep } from "../../workers/protocol.ts";

export type { LoadTarget, WorkerState } from "./model-ref.ts";
export type { WorkerStatus } from "./worker-status.ts";

/** Per-request wishes that reach the pool. */
export interface InferOptions {
  /** Overrides the model's keep-alive from now on (0 = unload when idle, -1 = never). */
  keepAliveSeconds?: number;
  /** How long the caller may wait for memory or a restart backoff (milliseconds since the epoch). */
  deadlineAtMilliseconds?: number;
}

export interface PoolDependencies {
  spawnWorker: SpawnWorker;
  probeMemory: ProbeMemory;
  /** Throws CHECKSUM_MISMATCH unless the file at `path` still hashes to `sha256`. */
  verifyModelFile: (path: string, sha256: string) => Promise<void>;
  logger: Logger;
  limits?: Partial<AdmissionLimits>;
  /** Load failures in a row after which a model is marked unhealthy (default 3). */
  maxConsecutiveLoadFailures?: number;
  restartBackoff?: BackoffPolicy;
  /** How long a request without a deadline waits for memory before INSUFFICIENT_MEMORY (default 30 s). */
  capacityWaitMilliseconds?: number;
  /** Time and timers (the one clock, src/clock.ts); a fake in tests. */
  clock?: Clock;
  /**
   * Shared memory: the input arena a model's workers map (absent: tensors travel inline), and a
   * hook to give an unloaded model's arena pages back.
   */
  inputArenaPath?: (key: string, target: LoadTarget) => string;
  onUnloaded?: (key: string) => void;
  /** Memory held outside any model that the budget must leave room for (standby workers). */
  reservedBytes?: () => number;
  /** Inference watchdog (watchdog.ts): kill a worker this long past its batch's deadline; undefined = none. */
  watchdogGraceMilliseconds?: number;
}

const DEFAULT_MAX_CONSECUTIVE_LOAD_FAILURES = 3;
const DEFAULT_CAPACITY_WAIT_MILLISECONDS = 30_000;

export class WorkerPool {
  private readonly refs = new ModelRefs();
  private readonly clock: Clock;
  private readonly keepAlive: KeepAlive;
  private readonly capacity: Capacity;
  private readonly loader: ModelLoader;
  private readonly capacityWaitMilliseconds: number;
  private closed = false;
  private readonly watchdog: WatchdogSettings | undefined;

  constructor(private readonly dependencies: PoolDependencies) {
    const { logger } = dependencies;
    this.clock = dependencies.clock ?? systemClock;
    this.capacityWaitMilliseconds = dependencies.capacityWaitMilliseconds ?? DEFAULT_CAPACITY_WAIT_MILLISECONDS;
    const graceMilliseconds = dependencies.watchdogGraceMilliseconds;
    this.watchdog = graceMilliseconds === undefined ? undefined : { graceMilliseconds, clock: this.clock, logger };
    const stop = (ref: ModelRef) => this.stop(ref);
    this.keepAlive = new KeepAlive(this.refs, this.clock, logger, stop);
    this.capacity = new Capacity({
      refs: this.refs,
      clock: this.clock,
      logger,
      probeMemory: dependencies.probeMemory,
      limits: { memoryLimitBytes: dependencies.limits?.memoryLimitBytes, maxLoadedModels: dependencies.limits?.maxLoadedModels },
      reservedBytes: dependencies.reservedBytes,
      stop,
    });
    this.loader = new ModelLoader({
      refs: this.refs,
      clock: this.clock,
      logger,
      capacity: this.capacity,
      keepAlive: this.keepAlive,
      spawnWorker: dependencies.spawnWorker,
      verifyModelFile: dependencies.verifyModelFile,
      inputArenaPath: dependencies.inputArenaPath,
      maxConsecutiveLoadFailures: dependencies.maxConsecutiveLoadFailures ?? DEFAULT_MAX_CONSECUTIVE_LOAD_FAILURES,
      restartBackoff: dependencies.restartBackoff ?? DEFAULT_RESTART_BACKOFF,
      isClosed: () => this.closed,
    });
  }

  /**
   * Runs one batch on the least busy replica of the target, loading the model first if needed.
   * A worker found dead before the batch was sent (WorkerGoneError) is dropped and the batch goes
   * to another (or a fresh) worker, once; a worker that dies holding a batch fails that batch.
   */
  async infer(target: LoadTarget, items: TransportTensor[][], outputNames?: string[], options: InferOptions = {}): Promise<InferResult> {
    try {
      return await this.inferOnce(target, items, outputNames, options);
    } catch (error) {
      if (!(error instanceof WorkerGoneError)) throw error;
      this.loader.dropReplica(modelKey(target), error.pid);
      return this.inferOnce(target, items, outputNames, options);
    }
  }

  private async inferOnce(target: LoadTarget, items: TransportTensor[][], outputNames: string[] | undefined, options: InferOptions): Promise<InferResult> {
    const ref = await this.acquire(target, options.deadlineAtMilliseconds, false);
    this.keepAlive.override(ref, options.keepAliveSeconds);
    // Shutdown began while this caller waited for the load: do not send work to a stopping worker.
    if (this.closed) throw shuttingDown();
    const replica = leastBusy(ref.replicas);
    replica.inFlight++;
    ref.history.lastUsedAt = new Date(nowMilliseconds(this.clock));
    try {
      const result = await underWatchdog(replica.worker.infer(items, outputNames), replica.worker, options.deadlineAtMilliseconds, ref.target, this.watchdog);
      if (ref.history.consecutiveCrashes !== 0) ref.history.consecutiveCrashes = 0;
      return result;
    } catch (error) {
      // The grace period ran out and close() stopped the worker under this request.
      if (this.closed && !(error instanceof WorkerGoneError)) throw shuttingDown();
      throw error;
    } finally {
      replica.inFlight--;
      ref.history.lastUsedAt = new Date(nowMilliseconds(this.clock));
      this.keepAlive.arm(ref);
      this.capacity.notifyIfIdle(ref);
    }
  }

  /**
   * txt2txt: starts one sequence on the least busy replica (loading the model first if needed); the
   * replica counts it in flight until it finishes. Admission (how many at once) is the caller's. A
   * worker found dead before the sequence was sent is dropped and the sequence goes to another, once.
   */
  async generate(target: LoadTarget, settings: GenerateSettings, onStep: (step: SequenceStep) => void, options: InferOptions = {}): Promise<GenerationHandle> {
    try {
      return await this.generateOnce(target, settings, onStep, options);
    } catch (error) {
      if (!(error instanceof WorkerGoneError)) throw error;
      this.loader.dropReplica(modelKey(target), error.pid);
      return this.generateOnce(target, settings, onStep, options);
    }
  }

  private async generateOnce(target: LoadTarget, settings: GenerateSettings, onStep: (step: SequenceStep) => void, options: InferOptions): Promise<GenerationHandle> {
    const ref = await this.acquire(target, options.deadlineAtMilliseconds, false);
    this.keepAlive.override(ref, options.keepAliveSeconds);
    if (this.closed) throw shuttingDown();
    const replica = leastBusy(ref.replicas);
    if (!replica.worker.generate) throw new Error("this worker cannot generate (this is a bug)");
    const handle = replica.worker.generate(settings, onStep);
    replica.inFlight++;
    ref.history.lastUsedAt = new Date(nowMilliseconds(this.clock));
    const done = () => {
      replica.inFlight--;
      ref.history.lastUsedAt = new Date(nowMilliseconds(this.clock));
      this.keepAlive.arm(ref);
      this.capacity.notifyIfIdle(ref);
    };
    handle.finished.then(done, done);
    return handle;
  }

  /**
   * Explicit load: clears an `unhealthy` mark, the failure counts and the last error (an operator
   * asked for a fresh start), then loads (or returns the loaded model).
   */
  async load(target: LoadTarget, options: InferOptions = {}): Promise<WorkerStatus> {
    const key = modelKey(target);
    if (this.refs.get(key)?.state === "unhealthy") this.refs.delete(key);
    const history = this.refs.existingHistoryOf(key);
    if (history) Object.assign(history, { consecutiveLoadFailures: 0, consecutiveCrashes: 0, lastError: undefined });
    return describeModel(await this.acquire(target, options.deadlineAtMilliseconds, true), this.dependencies.probeMemory);
  }

  /** Stops the workers of `name` (one version, or all when `version` is undefined). */
  async unload(name: string, version?: string): Promise<void> {
    const stopping: Promise<unknown>[] = [];
    for (const ref of this.refs.values()) {
      if (ref.target.name !== name || (version !== undefined && ref.target.version !== version)) continue;
      stopping.push(this.stop(ref));
    }
    await Promise.all(stopping);
  }

  // Status: three views of the same references, from the cheapest to the fullest. A model version
  // the pool holds no reference for is `unloaded`; its counters survive in its history.

  /** The state of one model version as routing sees it; probes nothing (cheap enough per request). */
  stateOf(name: string, version: string): WorkerState {
    return this.refs.find(name, version)?.state ?? "unloaded";
  }

  /** The full status of one model version, loaded or not (counters survive unloads). */
  statusOf(name: string, version: string): WorkerStatus {
    const ref = this.refs.find(name, version);
    return ref ? describeModel(ref, this.dependencies.probeMemory) : describeUnloaded(name, version, this.refs.lastHistoryOf(name, version));
  }

  /** The full status of every model version the pool holds: loading, ready or unhealthy. */
  status(): WorkerStatus[] {
    return [...this.refs.values()].map((ref) => describeModel(ref, this.dependencies.probeMemory));
  }

  /** Stops every worker; later calls to `infer` fail with SHUTTING_DOWN. */
  async close(): Promise<void> {
    this.closed = true;
    this.capacity.notify();
    await Promise.all([...this.refs.values()].map((ref) => this.stop(ref)));
  }

  /**
   * The loaded model version for `target`: loads it (once, shared) if needed, within budget. A
   * loaded reference takes the caller's `target`, so config changes (keep-alive, replicas) apply
   * from the next request on. `explicit` loads always run the warm-up inference; a load a request
   * triggers runs it only when the config names `warmupShapes`, since the request itself is the
   * model's first run.
   */
  private async acquire(target: LoadTarget, deadlineAtMilliseconds: number | undefined, explicit: boolean): Promise<ModelRef> {
    const key = modelKey(target);
    const waitUntil = deadlineAtMilliseconds ?? nowMilliseconds(this.clock) + this.capacityWaitMilliseconds;
    for (;;) {
      if (this.closed) throw shuttingDown();
      const ref = this.refs.get(key);
      if (ref?.state === "ready") {
        ref.target = target;
        if (ref.replicas.length < replicaCountOf(ref.target) && !ref.replenishing) void this.loader.replenish(ref);
        return ref;
      }
      if (ref?.state === "loading") return ref.loading!;
      if (ref?.state === "unhealthy") throw unhealthyModel(target, ref.history.lastError);
      const history = this.refs.historyOf(key);
      const backoffMilliseconds = this.loader.backoffRemaining(history);
      if (backoffMilliseconds > 0) {
        await sleep(this.clock, backoffMilliseconds);
        continue; // another caller may have started the load meanwhile
      }
      const estimateBytes = this.capacity.estimate(target, history);
      const plan = this.capacity.plan(estimateBytes);
      if (plan.kind === "reject") throw insufficientMemory(target, plan.reason);
      if (plan.kind === "wait") {
        const remainingMilliseconds = waitUntil - nowMilliseconds(this.clock);
        if (remainingMilliseconds <= 0) throw insufficientMemory(target, plan.reason);
        await this.capacity.waitForRoom(remainingMilliseconds);
        continue;
      }
      const evicted = this.capacity.evictAll(plan.evict, target);
      return this.loader.start(key, target, history, estimateBytes, evicted, explicit || target.config.warmupShapes !== undefined);
    }
  }

  /** Removes the reference at once (so admission no longer counts it), then waits for its workers to exit. */
  private async stop(ref: ModelRef): Promise<void> {
    this.refs.forget(ref);
    // At shutdown a load in progress is cut short rather than waited for.
    if (ref.loading && this.closed) for (const replica of ref.replicas) void replica.worker.terminate();
    if (ref.loading) await ref.loading.catch(() => undefined);
    // A timer that fires before this is harmless: it finds the reference gone from the table.
    this.keepAlive.cancel(ref);
    const workers = ref.replicas.map((replica) => replica.worker);
    ref.replicas = [];
    if (workers.length > 0) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      this.dependencies.logger.info(
        { event: "model_unloaded", model: ref.target.name, version: ref.target.version, pids: workers.map((worker) => worker.pid) },
        "model unloaded",
      );
    }
    if (!this.refs.has(ref.key)) this.dependencies.onUnloaded?.(ref.key);
    this.capacity.notify();
  }
}
