/**
 * The worker pool: `replicas` worker processes per loaded model version, spawned lazily on first
 * use. Only the pool creates, routes to, and stops workers.
 *
 * Invariants:
 * - at most one load of a model version runs at a time; concurrent callers share it;
 * - a load starts only when the model fits the memory budget and the loaded-models cap, after the
 *   idle models evicted to make room are gone (least recently used first; a model with work in
 *   flight is never evicted); otherwise the caller waits for room until its deadline;
 * - a model whose load failed `maxConsecutiveLoadFailures` times in a row (a broken file, a file
 *   that no longer matches its checksum, a failing warm-up) is `unhealthy` and never routed to,
 *   until an explicit `load`;
 * - a worker that exits unexpectedly fails only its own in-flight batches (WorkerHandle does
 *   that) and is dropped from its model; a lost replica is replaced on the next request, and when
 *   none is left the next request loads the model again; repeated failures back off exponentially;
 * - every unload, eviction and keep-alive expiry goes through `stop`.
 */
import { ModelMoraError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { ModelConfig } from "../registry/model-config.ts";
import type { Provider, WireTensor } from "../../workers/protocol.ts";
import { type AdmissionLimits, planAdmission, type ResidentModel } from "./admission.ts";
import { type BackoffPolicy, DEFAULT_RESTART_BACKOFF, restartDelayMilliseconds } from "./backoff.ts";
import type { ProbeMemory } from "./memory-probe.ts";
import { type InferResult, type LoadedSignature, type SpawnWorker, WorkerGoneError, type WorkerHandle } from "./worker-process.ts";

/** Everything the pool needs to start workers for one model version. */
export interface LoadTarget {
  name: string;
  version: string;
  modelPath: string;
  sha256: string;
  /** Size of the model file; the footprint estimate before the first load is 1.5× this per replica. */
  sizeBytes: number;
  config: ModelConfig;
}

export type WorkerState = "unloaded" | "loading" | "ready" | "unhealthy";

export interface WorkerStatus {
  name: string;
  version: string;
  state: WorkerState;
  /** The first replica's pid (null when none runs). */
  pid: number | null;
  /** Every replica's pid. */
  pids: number[];
  /** Resident memory of all replicas together. */
  rssBytes: number | null;
  provider: Provider | null;
  loadedAt: string | null;
  lastUsedAt: string | null;
  /** Batches running on this model's workers. */
  inFlight: number;
  /** Batches running on each replica, in `pids` order. */
  replicaInFlight: number[];
  /** Successful loads since the server started. */
  loads: number;
  /** Unloads to make room under the memory budget or the loaded-models cap. */
  evictions: number;
  /** Workers started again after one exited unexpectedly. */
  restarts: number;
  /** Load failures since the last successful load. */
  consecutiveLoadFailures: number;
  lastError: string | null;
}

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
  now?: () => Date;
  /** Runs `callback` after `delayMilliseconds`; returns a cancel function (injected in tests). */
  setTimer?: (callback: () => void, delayMilliseconds: number) => () => void;
}

const DEFAULT_MAX_CONSECUTIVE_LOAD_FAILURES = 3;
const DEFAULT_CAPACITY_WAIT_MILLISECONDS = 30_000;
const ESTIMATE_FACTOR = 1.5;
const MEBIBYTE = 1024 * 1024;

interface Replica {
  worker: WorkerHandle;
  inFlight: number;
}

/** What the pool remembers about a model version across loads, unloads and evictions. */
interface History {
  loads: number;
  evictions: number;
  restarts: number;
  consecutiveLoadFailures: number;
  consecutiveCrashes: number;
  lastFailureAtMilliseconds: number;
  /** A worker exited unexpectedly; the next start of this model counts as a restart. */
  restartPending: boolean;
  /** Measured footprint of the last load: a better estimate than the file size for the next one. */
  measuredBytes: number | undefined;
  lastUsedAt: Date | undefined;
  lastError: string | undefined;
}

interface Entry {
  key: string;
  target: LoadTarget;
  history: History;
  state: Exclude<WorkerState, "unloaded">;
  replicas: Replica[];
  loading: Promise<Entry> | undefined;
  /** A replacement for a lost replica is being started. */
  replenishing: boolean;
  provider: Provider | undefined;
  loadedAt: Date | undefined;
  /** Footprint counted while loading (no process to measure yet). */
  estimateBytes: number;
  /** Seconds idle before unloading: 0 = as soon as idle, -1 = never. */
  keepAliveSeconds: number;
  cancelIdleTimer: (() => void) | undefined;
}

export class WorkerPool {
  private readonly entries = new Map<string, Entry>();
  private readonly histories = new Map<string, History>();
  /** Callers waiting for memory; woken whenever a model goes idle, loads, or is stopped. */
  private readonly capacityWaiters = new Set<() => void>();
  private readonly limits: AdmissionLimits;
  private readonly maxConsecutiveLoadFailures: number;
  private readonly restartBackoff: BackoffPolicy;
  private readonly capacityWaitMilliseconds: number;
  private readonly now: () => Date;
  private readonly setTimer: (callback: () => void, delayMilliseconds: number) => () => void;
  private closed = false;

  constructor(private readonly dependencies: PoolDependencies) {
    this.limits = { memoryLimitBytes: dependencies.limits?.memoryLimitBytes, maxLoadedModels: dependencies.limits?.maxLoadedModels };
    this.maxConsecutiveLoadFailures = dependencies.maxConsecutiveLoadFailures ?? DEFAULT_MAX_CONSECUTIVE_LOAD_FAILURES;
    this.restartBackoff = dependencies.restartBackoff ?? DEFAULT_RESTART_BACKOFF;
    this.capacityWaitMilliseconds = dependencies.capacityWaitMilliseconds ?? DEFAULT_CAPACITY_WAIT_MILLISECONDS;
    this.now = dependencies.now ?? (() => new Date());
    this.setTimer =
      dependencies.setTimer ??
      ((callback, delayMilliseconds) => {
        const timer = setTimeout(callback, delayMilliseconds);
        timer.unref();
        return () => clearTimeout(timer);
      });
  }

  /**
   * Runs one batch on the least busy replica of the target, loading the model first if needed.
   * A worker found dead before the batch was sent (WorkerGoneError) is dropped and the batch goes
   * to another (or a fresh) worker, once; a worker that dies holding a batch fails that batch.
   */
  async infer(target: LoadTarget, items: WireTensor[][], outputNames?: string[], options: InferOptions = {}): Promise<InferResult> {
    try {
      return await this.inferOnce(target, items, outputNames, options);
    } catch (error) {
      if (!(error instanceof WorkerGoneError)) throw error;
      this.dropReplica(keyOf(target.name, target.version), error.pid);
      return this.inferOnce(target, items, outputNames, options);
    }
  }

  private async inferOnce(target: LoadTarget, items: WireTensor[][], outputNames: string[] | undefined, options: InferOptions): Promise<InferResult> {
    const entry = await this.acquire(target, options.deadlineAtMilliseconds);
    if (options.keepAliveSeconds !== undefined && options.keepAliveSeconds !== entry.keepAliveSeconds) {
      entry.keepAliveSeconds = options.keepAliveSeconds;
      entry.cancelIdleTimer?.();
      entry.cancelIdleTimer = undefined;
    }
    // Shutdown began while this caller waited for the load: do not send work to a stopping worker.
    if (this.closed) throw shuttingDown();
    const replica = leastBusy(entry.replicas);
    replica.inFlight++;
    entry.history.lastUsedAt = this.now();
    try {
      const result = await replica.worker.infer(items, outputNames);
      if (entry.history.consecutiveCrashes !== 0) entry.history.consecutiveCrashes = 0;
      return result;
    } catch (error) {
      // The grace period ran out and close() stopped the worker under this request.
      if (this.closed && !(error instanceof WorkerGoneError)) throw shuttingDown();
      throw error;
    } finally {
      replica.inFlight--;
      entry.history.lastUsedAt = this.now();
      this.armIdleTimer(entry);
      if (this.capacityWaiters.size > 0 && !isBusy(entry)) this.notifyCapacity();
    }
  }

  /**
   * Keep-alive: once a model has no work in flight, it is unloaded `keepAliveSeconds` after its last
   * use (0 = as soon as idle, -1 = never). At most one timer per model, armed when it goes idle;
   * requests do not touch it (no timer churn on the hot path): when it fires it unloads, waits for
   * work in flight to finish, or re-arms for the rest of the keep-alive counted from `lastUsedAt`.
   */
  private armIdleTimer(entry: Entry, delayMilliseconds = entry.keepAliveSeconds * 1000): void {
    if (entry.state !== "ready" || entry.keepAliveSeconds < 0 || entry.cancelIdleTimer) return;
    if (entry.replicas.some((replica) => replica.inFlight > 0)) return;
    entry.cancelIdleTimer = this.setTimer(() => {
      entry.cancelIdleTimer = undefined;
      if (this.entries.get(entry.key) !== entry || entry.replicas.some((replica) => replica.inFlight > 0)) return;
      const idleMilliseconds = this.now().getTime() - (entry.history.lastUsedAt ?? entry.loadedAt ?? this.now()).getTime();
      const remainingMilliseconds = entry.keepAliveSeconds * 1000 - idleMilliseconds;
      if (remainingMilliseconds > 0) {
        this.armIdleTimer(entry, remainingMilliseconds);
        return;
      }
      this.dependencies.logger.info({ event: "keep_alive_expired", model: entry.target.name, version: entry.target.version }, "idle model unloaded");
      void this.stop(entry);
    }, delayMilliseconds);
  }

  /**
   * Explicit load: clears an `unhealthy` mark, the failure counts and the last error (an operator
   * asked for a fresh start), then loads (or returns the loaded model).
   */
  async load(target: LoadTarget, options: InferOptions = {}): Promise<WorkerStatus> {
    const key = keyOf(target.name, target.version);
    if (this.entries.get(key)?.state === "unhealthy") this.entries.delete(key);
    const history = this.histories.get(key);
    if (history) Object.assign(history, { consecutiveLoadFailures: 0, consecutiveCrashes: 0, lastError: undefined });
    return this.describe(await this.acquire(target, options.deadlineAtMilliseconds));
  }

  /** Stops the workers of `name` (one version, or all when `version` is undefined). */
  async unload(name: string, version?: string): Promise<void> {
    const stopping: Promise<unknown>[] = [];
    for (const entry of this.entries.values()) {
      if (entry.target.name !== name || (version !== undefined && entry.target.version !== version)) continue;
      stopping.push(this.stop(entry));
    }
    await Promise.all(stopping);
  }

  /** The state of one model version as routing sees it. */
  stateOf(name: string, version: string): WorkerState {
    return this.entries.get(keyOf(name, version))?.state ?? "unloaded";
  }

  /** Every model version that is loading, loaded or unhealthy. */
  status(): WorkerStatus[] {
    return [...this.entries.values()].map((entry) => this.describe(entry));
  }

  /** One model version, loaded or not (counters survive unloads). */
  statusOf(name: string, version: string): WorkerStatus {
    const key = keyOf(name, version);
    const entry = this.entries.get(key);
    if (entry) return this.describe(entry);
    const history = this.histories.get(key);
    return {
      name,
      version,
      state: "unloaded",
      pid: null,
      pids: [],
      rssBytes: null,
      provider: null,
      loadedAt: null,
      lastUsedAt: history?.lastUsedAt?.toISOString() ?? null,
      inFlight: 0,
      replicaInFlight: [],
      loads: history?.loads ?? 0,
      evictions: history?.evictions ?? 0,
      restarts: history?.restarts ?? 0,
      consecutiveLoadFailures: history?.consecutiveLoadFailures ?? 0,
      lastError: history?.lastError ?? null,
    };
  }

  /** Stops every worker; later calls to `infer` fail with SHUTTING_DOWN. */
  async close(): Promise<void> {
    this.closed = true;
    this.notifyCapacity();
    await Promise.all([...this.entries.values()].map((entry) => this.stop(entry)));
  }

  /** The loaded model version for `target`: loads it (once, shared) if needed, within budget. */
  private async acquire(target: LoadTarget, deadlineAtMilliseconds?: number): Promise<Entry> {
    const key = keyOf(target.name, target.version);
    const waitUntil = deadlineAtMilliseconds ?? this.now().getTime() + this.capacityWaitMilliseconds;
    for (;;) {
      if (this.closed) throw shuttingDown();
      const entry = this.entries.get(key);
      if (entry?.state === "ready") {
        if (entry.replicas.length < replicaCountOf(entry.target) && !entry.replenishing) void this.replenish(entry);
        return entry;
      }
      if (entry?.state === "loading") return entry.loading!;
      if (entry?.state === "unhealthy") {
        throw new ModelMoraError("UNHEALTHY_MODEL", `model "${target.name}" version ${target.version} is unhealthy: ${entry.history.lastError}`, {
          name: target.name,
          version: target.version,
        });
      }
      const history = this.historyOf(key);
      const backoffMilliseconds = this.backoffRemaining(history);
      if (backoffMilliseconds > 0) {
        await this.sleep(backoffMilliseconds);
        continue; // another caller may have started the load meanwhile
      }
      const estimateBytes = this.estimate(target, history);
      const plan = planAdmission(this.resident(), estimateBytes, this.limits);
      if (plan.kind === "reject") throw insufficientMemory(target, plan.reason);
      if (plan.kind === "wait") {
        const remainingMilliseconds = waitUntil - this.now().getTime();
        if (remainingMilliseconds <= 0) throw insufficientMemory(target, plan.reason);
        await this.waitForCapacity(remainingMilliseconds);
        continue;
      }
      const evicted = plan.evict.map((evictKey) => this.evict(this.entries.get(evictKey)!, target));
      return this.startLoad(key, target, history, estimateBytes, evicted);
    }
  }

  private startLoad(key: string, target: LoadTarget, history: History, estimateBytes: number, evicted: Promise<void>[]): Promise<Entry> {
    const entry: Entry = {
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
      keepAliveSeconds: target.config.keepAliveSeconds,
      cancelIdleTimer: undefined,
    };
    entry.loading = this.loadInto(entry, evicted);
    this.entries.set(key, entry);
    return entry.loading;
  }

  private async loadInto(entry: Entry, evicted: Promise<void>[]): Promise<Entry> {
    const { logger } = this.dependencies;
    const { target, history } = entry;
    try {
      // The evicted processes are gone (their memory returned) before the new one starts.
      await Promise.all(evicted);
      await this.dependencies.verifyModelFile(target.modelPath, target.sha256);
      const signatures = await Promise.all(
        Array.from({ length: replicaCountOf(target) }, () => {
          const { replica, loaded } = this.spawnReplica(entry);
          entry.replicas.push(replica); // visible in status while loading; routing waits for `ready`
          return loaded;
        }),
      );
      const first = signatures[0]!;
      for (const note of first.notes) logger.warn({ event: "provider_fallback", model: target.name, version: target.version }, note);
      Object.assign(entry, { state: "ready", provider: first.provider, loadedAt: this.now(), loading: undefined });
      history.loads++;
      history.consecutiveLoadFailures = 0;
      if (history.restartPending) {
        history.restarts++;
        history.restartPending = false;
      }
      history.measuredBytes = this.footprint(entry);
      logger.info(
        {
          event: "model_loaded",
          model: target.name,
          version: target.version,
          pids: entry.replicas.map((replica) => replica.worker.pid),
          provider: first.provider,
          rss_bytes: history.measuredBytes,
          load_ms: Math.round(Math.max(...signatures.map((signature) => signature.loadMilliseconds))),
        },
        "model loaded",
      );
      this.enforceBudgetAfterLoad(entry);
      this.armIdleTimer(entry);
      return entry;
    } catch (error) {
      const failure = error instanceof ModelMoraError ? error : new ModelMoraError("MODEL_LOAD_FAILED", String(error));
      const spawned = entry.replicas.map((replica) => replica.worker);
      history.consecutiveLoadFailures++;
      history.lastFailureAtMilliseconds = this.now().getTime();
      history.lastError = failure.message;
      const unhealthy = history.consecutiveLoadFailures >= this.maxConsecutiveLoadFailures;
      Object.assign(entry, { state: "unhealthy", loading: undefined, replicas: [] });
      // Not yet unhealthy: forgotten, so the next request tries again (after the backoff).
      if (!unhealthy && this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
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
      this.notifyCapacity();
      if (this.closed) throw shuttingDown(); // cut short by close(), not the model's fault
      throw failure.code === "CHECKSUM_MISMATCH" || failure.code === "MODEL_LOAD_FAILED"
        ? failure
        : new ModelMoraError("MODEL_LOAD_FAILED", failure.message);
    }
  }

  /** Spawns one worker for `entry` and asks it to load the model (with its warm-up run). */
  private spawnReplica(entry: Entry): { replica: Replica; loaded: Promise<LoadedSignature> } {
    const { target } = entry;
    const worker = this.dependencies.spawnWorker(`${target.name}@${target.version}`);
    const replica: Replica = { worker, inFlight: 0 };
    this.watchExit(entry, worker);
    const loaded = worker.load({
      modelPath: target.modelPath,
      device: target.config.device,
      intraOpThreads: target.config.intraOpThreads,
      healthCheck: true,
      warmupShapes: target.config.warmupShapes,
    });
    return { replica, loaded };
  }

  /**
   * Replaces replicas lost to crashes, in the background, after the backoff; requests keep using
   * the replicas left. A replacement joins routing only once it has loaded.
   */
  private async replenish(entry: Entry): Promise<void> {
    entry.replenishing = true;
    const { target, history } = entry;
    try {
      const backoffMilliseconds = this.backoffRemaining(history);
      if (backoffMilliseconds > 0) await this.sleep(backoffMilliseconds);
      while (this.entries.get(entry.key) === entry && entry.state === "ready" && entry.replicas.length < replicaCountOf(target)) {
        const { replica, loaded } = this.spawnReplica(entry);
        try {
          await loaded;
        } catch (error) {
          await replica.worker.terminate();
          throw error;
        }
        if (this.entries.get(entry.key) !== entry) {
          await replica.worker.terminate(); // unloaded meanwhile
          return;
        }
        entry.replicas.push(replica);
        history.restarts++;
        history.restartPending = false;
        this.dependencies.logger.info(
          { event: "replica_restarted", model: target.name, version: target.version, pids: entry.replicas.map((each) => each.worker.pid) },
          "lost replica replaced",
        );
      }
    } catch (error) {
      history.consecutiveCrashes++;
      history.lastFailureAtMilliseconds = this.now().getTime();
      history.lastError = error instanceof Error ? error.message : String(error);
      this.dependencies.logger.error(
        { event: "replica_restart_failed", model: target.name, version: target.version, error: history.lastError },
        "lost replica could not be replaced; the next request tries again",
      );
    } finally {
      entry.replenishing = false;
    }
  }

  /** A replica that exits while its model is ready is dropped; the model is forgotten when none is left. */
  private watchExit(entry: Entry, worker: WorkerHandle): void {
    void worker.exited.then((exit) => {
      if (this.entries.get(entry.key) !== entry || entry.state !== "ready") return;
      if (!entry.replicas.some((replica) => replica.worker === worker)) return;
      const { history } = entry;
      history.consecutiveCrashes++;
      history.lastFailureAtMilliseconds = this.now().getTime();
      history.restartPending = true;
      history.lastError = `worker ${worker.pid} exited unexpectedly (${exit.signalCode ? `signal ${exit.signalCode}` : `exit code ${exit.exitCode}`})`;
      this.dropReplica(entry.key, worker.pid);
      this.dependencies.logger.warn(
        { event: "worker_exited", model: entry.target.name, version: entry.target.version, pid: worker.pid, exit_code: exit.exitCode, signal: exit.signalCode },
        "worker exited unexpectedly; the next request starts a replacement",
      );
    });
  }

  /** Drops the replica with `pid` (if its entry still holds it); forgets the entry when it was the last. */
  private dropReplica(key: string, pid: number): void {
    const entry = this.entries.get(key);
    if (entry?.state !== "ready") return;
    entry.replicas = entry.replicas.filter((replica) => replica.worker.pid !== pid);
    if (entry.replicas.length > 0) return;
    entry.cancelIdleTimer?.();
    entry.cancelIdleTimer = undefined;
    this.entries.delete(key);
    this.notifyCapacity();
  }

  /** Unloads an idle model to make room for `incoming` (counted in its evictions). */
  private evict(entry: Entry, incoming: Pick<LoadTarget, "name" | "version">): Promise<void> {
    entry.history.evictions++;
    this.dependencies.logger.info(
      {
        event: "model_evicted",
        model: entry.target.name,
        version: entry.target.version,
        pids: entry.replicas.map((replica) => replica.worker.pid),
        for_model: incoming.name,
        for_version: incoming.version,
      },
      "idle model evicted to make room",
    );
    return this.stop(entry);
  }

  /**
   * The estimate before load can be far off (a worker process costs more than its model file); once
   * measured, idle models are evicted until the budget holds again. Busy ones are left alone.
   */
  private enforceBudgetAfterLoad(loaded: Entry): void {
    const others = this.resident().filter((model) => model.key !== loaded.key);
    const plan = planAdmission(others, this.footprint(loaded), this.limits);
    if (plan.kind === "admit") {
      for (const key of plan.evict) void this.evict(this.entries.get(key)!, loaded.target);
    } else {
      this.dependencies.logger.warn({ event: "over_memory_budget", model: loaded.target.name, version: loaded.target.version, reason: plan.reason }, "loaded over the memory budget");
    }
    this.notifyCapacity();
  }

  /** Removes the entry at once (so admission no longer counts it), then waits for its workers to exit. */
  private async stop(entry: Entry): Promise<void> {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    // At shutdown a load in progress is cut short rather than waited for.
    if (entry.loading && this.closed) for (const replica of entry.replicas) void replica.worker.terminate();
    if (entry.loading) await entry.loading.catch(() => undefined);
    // A timer that fires before this is harmless: it finds the entry gone from the map.
    entry.cancelIdleTimer?.();
    entry.cancelIdleTimer = undefined;
    const workers = entry.replicas.map((replica) => replica.worker);
    entry.replicas = [];
    if (workers.length > 0) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      this.dependencies.logger.info({ event: "model_unloaded", model: entry.target.name, version: entry.target.version, pids: workers.map((worker) => worker.pid) }, "model unloaded");
    }
    this.notifyCapacity();
  }

  /** Models holding memory, as admission sees them. */
  private resident(): ResidentModel[] {
    const nowMilliseconds = this.now().getTime();
    const resident: ResidentModel[] = [];
    for (const entry of this.entries.values()) {
      if (entry.state === "unhealthy") continue;
      resident.push({
        key: entry.key,
        footprintBytes: entry.state === "ready" ? this.footprint(entry) : entry.estimateBytes,
        busy: isBusy(entry),
        lastUsedAtMilliseconds: (entry.history.lastUsedAt ?? entry.loadedAt)?.getTime() ?? nowMilliseconds,
      });
    }
    return resident;
  }

  /** Measured RSS of the entry's workers; the estimate for any that cannot be read. */
  private footprint(entry: Entry): number {
    const perReplicaEstimate = entry.estimateBytes / Math.max(1, replicaCountOf(entry.target));
    return entry.replicas.reduce((total, replica) => total + (this.dependencies.probeMemory(replica.worker.pid) ?? perReplicaEstimate), 0);
  }

  /** `memoryMb` per worker when configured, else the last measured footprint, else 1.5× the file per worker. */
  private estimate(target: LoadTarget, history: History): number {
    const replicas = replicaCountOf(target);
    if (target.config.memoryMb !== undefined) return target.config.memoryMb * MEBIBYTE * replicas;
    return history.measuredBytes ?? ESTIMATE_FACTOR * target.sizeBytes * replicas;
  }

  private backoffRemaining(history: History): number {
    const failures = Math.max(history.consecutiveLoadFailures, history.consecutiveCrashes);
    const delay = restartDelayMilliseconds(failures, this.restartBackoff);
    return delay === 0 ? 0 : history.lastFailureAtMilliseconds + delay - this.now().getTime();
  }

  private historyOf(key: string): History {
    let history = this.histories.get(key);
    if (!history) {
      history = {
        loads: 0,
        evictions: 0,
        restarts: 0,
        consecutiveLoadFailures: 0,
        consecutiveCrashes: 0,
        lastFailureAtMilliseconds: 0,
        restartPending: false,
        measuredBytes: undefined,
        lastUsedAt: undefined,
        lastError: undefined,
      };
      this.histories.set(key, history);
    }
    return history;
  }

  private waitForCapacity(timeoutMilliseconds: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        this.capacityWaiters.delete(wake);
        cancel();
        resolve();
      };
      const cancel = this.setTimer(wake, timeoutMilliseconds);
      this.capacityWaiters.add(wake);
    });
  }

  private notifyCapacity(): void {
    for (const wake of [...this.capacityWaiters]) wake();
  }

  private sleep(milliseconds: number): Promise<void> {
    return new Promise<void>((resolve) => void this.setTimer(resolve, milliseconds));
  }

  private describe(entry: Entry): WorkerStatus {
    const { history } = entry;
    const pids = entry.replicas.map((replica) => replica.worker.pid);
    const rss = pids.map((pid) => this.dependencies.probeMemory(pid));
    return {
      name: entry.target.name,
      version: entry.target.version,
      state: entry.state,
      pid: pids[0] ?? null,
      pids,
      rssBytes: rss.length === 0 || rss.some((value) => value === undefined) ? null : rss.reduce((total, value) => total! + value!, 0)!,
      provider: entry.provider ?? null,
      loadedAt: entry.loadedAt?.toISOString() ?? null,
      lastUsedAt: history.lastUsedAt?.toISOString() ?? null,
      inFlight: entry.replicas.reduce((total, replica) => total + replica.inFlight, 0),
      replicaInFlight: entry.replicas.map((replica) => replica.inFlight),
      loads: history.loads,
      evictions: history.evictions,
      restarts: history.restarts,
      consecutiveLoadFailures: history.consecutiveLoadFailures,
      lastError: history.lastError ?? null,
    };
  }
}

function isBusy(entry: Entry): boolean {
  return entry.state === "loading" || entry.replenishing || entry.replicas.some((replica) => replica.inFlight > 0);
}

function leastBusy(replicas: Replica[]): Replica {
  let best = replicas[0]!;
  for (const replica of replicas) if (replica.inFlight < best.inFlight) best = replica;
  return best;
}

function replicaCountOf(target: LoadTarget): number {
  return Math.max(1, target.config.replicas);
}

function insufficientMemory(target: LoadTarget, reason: string): ModelMoraError {
  return new ModelMoraError("INSUFFICIENT_MEMORY", `cannot load model "${target.name}" version ${target.version}: ${reason}`, {
    name: target.name,
    version: target.version,
  });
}

function shuttingDown(): ModelMoraError {
  return new ModelMoraError("SHUTTING_DOWN", "server is shutting down");
}

function keyOf(name: string, version: string): string {
  return `${name}\u0000${version}`;
}
