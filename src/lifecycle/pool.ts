/**
 * The worker pool: `replicas` worker processes per loaded model version, spawned lazily on first
 * use. Only the pool creates, routes to, and stops workers.
 *
 * Invariants:
 * - at most one load of a model version runs at a time; concurrent callers share it;
 * - a model whose load or health check failed is `unhealthy` and never routed to, until an
 *   explicit `load` (or a new version) resets it;
 * - a worker that exits unexpectedly fails only its own in-flight batches (WorkerHandle does
 *   that) and is dropped from its model; when none is left the model is forgotten, so the next
 *   request spawns fresh workers.
 */
import { ModelMoraError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { ModelConfig } from "../registry/model-config.ts";
import type { Provider, WireTensor } from "../../workers/protocol.ts";
import type { ProbeMemory } from "./memory-probe.ts";
import { type InferResult, type SpawnWorker, WorkerGoneError, type WorkerHandle } from "./worker-process.ts";

/** Everything the pool needs to start workers for one model version. */
export interface LoadTarget {
  name: string;
  version: string;
  modelPath: string;
  sha256: string;
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
  loads: number;
  lastError: string | null;
}

export interface PoolDependencies {
  spawnWorker: SpawnWorker;
  probeMemory: ProbeMemory;
  /** Throws CHECKSUM_MISMATCH unless the file at `path` still hashes to `sha256`. */
  verifyModelFile: (path: string, sha256: string) => Promise<void>;
  logger: Logger;
  now?: () => Date;
  /** Runs `callback` after `delayMilliseconds`; returns a cancel function (injected in tests). */
  setTimer?: (callback: () => void, delayMilliseconds: number) => () => void;
}

interface Replica {
  worker: WorkerHandle;
  inFlight: number;
}

interface Entry {
  name: string;
  version: string;
  state: Exclude<WorkerState, "unloaded">;
  replicas: Replica[];
  loading: Promise<Entry> | undefined;
  provider: Provider | undefined;
  loadedAt: Date | undefined;
  lastUsedAt: Date | undefined;
  loads: number;
  lastError: string | undefined;
  /** Seconds idle before unloading: 0 = as soon as idle, -1 = never. */
  keepAliveSeconds: number;
  cancelIdleTimer: (() => void) | undefined;
}

export class WorkerPool {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => Date;
  private readonly setTimer: (callback: () => void, delayMilliseconds: number) => () => void;
  private closed = false;

  constructor(private readonly dependencies: PoolDependencies) {
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
  async infer(target: LoadTarget, items: WireTensor[][], outputNames?: string[]): Promise<InferResult> {
    try {
      return await this.inferOnce(target, items, outputNames);
    } catch (error) {
      if (!(error instanceof WorkerGoneError)) throw error;
      this.dropReplica(keyOf(target.name, target.version), error.pid);
      return this.inferOnce(target, items, outputNames);
    }
  }

  private async inferOnce(target: LoadTarget, items: WireTensor[][], outputNames?: string[]): Promise<InferResult> {
    const entry = await this.acquire(target);
    const replica = leastBusy(entry.replicas);
    replica.inFlight++;
    entry.lastUsedAt = this.now();
    try {
      return await replica.worker.infer(items, outputNames);
    } finally {
      replica.inFlight--;
      entry.lastUsedAt = this.now();
      this.armIdleTimer(keyOf(target.name, target.version), entry);
    }
  }

  /**
   * Keep-alive: once a model has no work in flight, it is unloaded `keepAliveSeconds` after its last
   * use (0 = as soon as idle, -1 = never). At most one timer per model, armed when it goes idle;
   * requests do not touch it (no timer churn on the hot path): when it fires it unloads, waits for
   * work in flight to finish, or re-arms for the rest of the keep-alive counted from `lastUsedAt`.
   * The one expiry path is `stop`.
   */
  private armIdleTimer(key: string, entry: Entry, delayMilliseconds = entry.keepAliveSeconds * 1000): void {
    if (entry.state !== "ready" || entry.keepAliveSeconds < 0 || entry.cancelIdleTimer) return;
    if (entry.replicas.some((replica) => replica.inFlight > 0)) return;
    entry.cancelIdleTimer = this.setTimer(() => {
      entry.cancelIdleTimer = undefined;
      if (this.entries.get(key) !== entry || entry.replicas.some((replica) => replica.inFlight > 0)) return;
      const idleMilliseconds = this.now().getTime() - (entry.lastUsedAt ?? entry.loadedAt ?? this.now()).getTime();
      const remainingMilliseconds = entry.keepAliveSeconds * 1000 - idleMilliseconds;
      if (remainingMilliseconds > 0) {
        this.armIdleTimer(key, entry, remainingMilliseconds);
        return;
      }
      this.dependencies.logger.info({ event: "keep_alive_expired", model: entry.name, version: entry.version }, "idle model unloaded");
      void this.stop(key, entry);
    }, delayMilliseconds);
  }

  /** Explicit load: clears an `unhealthy` mark, then loads (or returns the loaded model). */
  async load(target: LoadTarget): Promise<WorkerStatus> {
    const key = keyOf(target.name, target.version);
    if (this.entries.get(key)?.state === "unhealthy") this.entries.delete(key);
    return this.describe(await this.acquire(target));
  }

  /** Stops the workers of `name` (one version, or all when `version` is undefined). */
  async unload(name: string, version?: string): Promise<void> {
    const stopping: Promise<unknown>[] = [];
    for (const [key, entry] of this.entries) {
      if (entry.name !== name || (version !== undefined && entry.version !== version)) continue;
      stopping.push(this.stop(key, entry));
    }
    await Promise.all(stopping);
  }

  /** The state of one model version as routing sees it. */
  stateOf(name: string, version: string): WorkerState {
    return this.entries.get(keyOf(name, version))?.state ?? "unloaded";
  }

  status(): WorkerStatus[] {
    return [...this.entries.values()].map((entry) => this.describe(entry));
  }

  /** Stops every worker; later calls to `infer` fail with SHUTTING_DOWN. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.entries].map(([key, entry]) => this.stop(key, entry)));
  }

  private async acquire(target: LoadTarget): Promise<Entry> {
    if (this.closed) throw new ModelMoraError("SHUTTING_DOWN", "server is shutting down");
    const key = keyOf(target.name, target.version);
    const entry = this.entries.get(key);
    if (entry?.state === "ready") return entry;
    if (entry?.state === "loading") return entry.loading!;
    if (entry?.state === "unhealthy") {
      throw new ModelMoraError("UNHEALTHY_MODEL", `model "${target.name}" version ${target.version} is unhealthy: ${entry.lastError}`, {
        name: target.name,
        version: target.version,
      });
    }
    const fresh: Entry = {
      name: target.name,
      version: target.version,
      state: "loading",
      replicas: [],
      loading: undefined,
      provider: undefined,
      loadedAt: undefined,
      lastUsedAt: undefined,
      loads: 0,
      lastError: undefined,
      keepAliveSeconds: target.config.keepAliveSeconds,
      cancelIdleTimer: undefined,
    };
    fresh.loading = this.loadInto(key, fresh, target);
    this.entries.set(key, fresh);
    return fresh.loading;
  }

  private async loadInto(key: string, entry: Entry, target: LoadTarget): Promise<Entry> {
    const { logger } = this.dependencies;
    const spawned: WorkerHandle[] = [];
    try {
      await this.dependencies.verifyModelFile(target.modelPath, target.sha256);
      const replicaCount = Math.max(1, target.config.replicas);
      const signatures = await Promise.all(
        Array.from({ length: replicaCount }, () => {
          const worker = this.dependencies.spawnWorker();
          spawned.push(worker);
          // Visible in status while loading; routing waits for `ready`.
          entry.replicas.push({ worker, inFlight: 0 });
          this.watchExit(key, entry, worker);
          return worker.load({
            modelPath: target.modelPath,
            device: target.config.device,
            intraOpThreads: target.config.intraOpThreads,
            healthCheck: true,
            warmupShapes: target.config.warmupShapes,
          });
        }),
      );
      const first = signatures[0]!;
      for (const note of first.notes) logger.warn({ event: "provider_fallback", model: target.name, version: target.version }, note);
      Object.assign(entry, { state: "ready", provider: first.provider, loadedAt: this.now(), loading: undefined });
      entry.loads++;
      this.armIdleTimer(key, entry);
      logger.info(
        {
          event: "model_loaded",
          model: target.name,
          version: target.version,
          pids: spawned.map((worker) => worker.pid),
          provider: first.provider,
          load_ms: Math.round(Math.max(...signatures.map((signature) => signature.loadMilliseconds))),
        },
        "model loaded",
      );
      return entry;
    } catch (error) {
      const failure = error instanceof ModelMoraError ? error : new ModelMoraError("MODEL_LOAD_FAILED", String(error));
      Object.assign(entry, { state: "unhealthy", lastError: failure.message, loading: undefined, replicas: [] });
      logger.error({ event: "model_load_failed", model: target.name, version: target.version, error: failure.message }, "model load failed");
      await Promise.all(spawned.map((worker) => worker.terminate()));
      throw failure.code === "CHECKSUM_MISMATCH" || failure.code === "MODEL_LOAD_FAILED"
        ? failure
        : new ModelMoraError("MODEL_LOAD_FAILED", failure.message);
    }
  }

  /** A replica that exits while its model is ready is dropped; the model is forgotten when none is left. */
  private watchExit(key: string, entry: Entry, worker: WorkerHandle): void {
    void worker.exited.then((exit) => {
      if (this.entries.get(key) !== entry || entry.state !== "ready") return;
      if (!entry.replicas.some((replica) => replica.worker === worker)) return;
      this.dropReplica(key, worker.pid);
      this.dependencies.logger.warn(
        { event: "worker_exited", model: entry.name, version: entry.version, pid: worker.pid, exit_code: exit.exitCode, signal: exit.signalCode },
        "worker exited unexpectedly; the next request respawns the model if no replica is left",
      );
    });
  }

  /** Drops the replica with `pid` (if its entry still holds it); forgets the entry when it was the last. */
  private dropReplica(key: string, pid: number): void {
    const entry = this.entries.get(key);
    if (entry?.state !== "ready") return;
    entry.replicas = entry.replicas.filter((replica) => replica.worker.pid !== pid);
    if (entry.replicas.length === 0) this.entries.delete(key);
  }

  private async stop(key: string, entry: Entry): Promise<void> {
    if (entry.loading) await entry.loading.catch(() => undefined);
    entry.cancelIdleTimer?.();
    entry.cancelIdleTimer = undefined;
    if (this.entries.get(key) === entry) this.entries.delete(key);
    const workers = entry.replicas.map((replica) => replica.worker);
    if (workers.length === 0) return;
    await Promise.all(workers.map((worker) => worker.terminate()));
    this.dependencies.logger.info({ event: "model_unloaded", model: entry.name, version: entry.version, pids: workers.map((worker) => worker.pid) }, "model unloaded");
  }

  private describe(entry: Entry): WorkerStatus {
    const pids = entry.replicas.map((replica) => replica.worker.pid);
    const rss = pids.map((pid) => this.dependencies.probeMemory(pid));
    return {
      name: entry.name,
      version: entry.version,
      state: entry.state,
      pid: pids[0] ?? null,
      pids,
      rssBytes: rss.length === 0 || rss.some((value) => value === undefined) ? null : rss.reduce((total, value) => total! + value!, 0)!,
      provider: entry.provider ?? null,
      loadedAt: entry.loadedAt?.toISOString() ?? null,
      lastUsedAt: entry.lastUsedAt?.toISOString() ?? null,
      inFlight: entry.replicas.reduce((total, replica) => total + replica.inFlight, 0),
      replicaInFlight: entry.replicas.map((replica) => replica.inFlight),
      loads: entry.loads,
      lastError: entry.lastError ?? null,
    };
  }
}

function leastBusy(replicas: Replica[]): Replica {
  let best = replicas[0]!;
  for (const replica of replicas) if (replica.inFlight < best.inFlight) best = replica;
  return best;
}

function keyOf(name: string, version: string): string {
  return `${name}\u0000${version}`;
}
