/**
 * The worker pool: one worker process per loaded model version, spawned lazily on first use.
 *
 * Invariants:
 * - at most one load of a model version runs at a time; concurrent callers share it;
 * - a model whose load or health check failed is `unhealthy` and never routed to, until an
 *   explicit `load` (or a new version) resets it;
 * - a worker that exits unexpectedly fails only its own in-flight requests (WorkerHandle does
 *   that) and is forgotten, so the next request spawns a fresh one.
 */
import { ModelMoraError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { ModelConfig } from "../registry/model-config.ts";
import type { Provider, WireTensor } from "../../workers/protocol.ts";
import type { ProbeMemory } from "./memory-probe.ts";
import { type InferResult, type SpawnWorker, WorkerGoneError, type WorkerHandle } from "./worker-process.ts";

/** Everything the pool needs to start a worker for one model version. */
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
  pid: number | null;
  rssBytes: number | null;
  provider: Provider | null;
  loadedAt: string | null;
  lastUsedAt: string | null;
  inFlight: number;
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
}

interface Entry {
  name: string;
  version: string;
  state: Exclude<WorkerState, "unloaded">;
  worker: WorkerHandle | undefined;
  loading: Promise<Entry> | undefined;
  provider: Provider | undefined;
  loadedAt: Date | undefined;
  lastUsedAt: Date | undefined;
  inFlight: number;
  loads: number;
  lastError: string | undefined;
}

export class WorkerPool {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => Date;
  private closed = false;

  constructor(private readonly dependencies: PoolDependencies) {
    this.now = dependencies.now ?? (() => new Date());
  }

  /**
   * Runs one inference on the target's worker, loading it first if needed. A worker found dead
   * before the request was sent (WorkerGoneError) is forgotten and the request goes to a fresh one,
   * once; a worker that dies after receiving a request fails that request.
   */
  async infer(target: LoadTarget, inputs: WireTensor[], outputNames?: string[]): Promise<InferResult> {
    try {
      return await this.inferOnce(target, inputs, outputNames);
    } catch (error) {
      if (!(error instanceof WorkerGoneError)) throw error;
      this.forgetWorker(target, error.pid);
      return this.inferOnce(target, inputs, outputNames);
    }
  }

  private async inferOnce(target: LoadTarget, inputs: WireTensor[], outputNames?: string[]): Promise<InferResult> {
    const entry = await this.acquire(target);
    entry.inFlight++;
    entry.lastUsedAt = this.now();
    try {
      return await entry.worker!.infer(inputs, outputNames);
    } finally {
      entry.inFlight--;
      entry.lastUsedAt = this.now();
    }
  }

  /** Explicit load: clears an `unhealthy` mark, then loads (or returns the loaded worker). */
  async load(target: LoadTarget): Promise<WorkerStatus> {
    const existing = this.entries.get(keyOf(target.name, target.version));
    if (existing?.state === "unhealthy") this.entries.delete(keyOf(target.name, target.version));
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
    return this.startLoad(key, target);
  }

  private startLoad(key: string, target: LoadTarget): Promise<Entry> {
    const entry: Entry = {
      name: target.name,
      version: target.version,
      state: "loading",
      worker: undefined,
      loading: undefined,
      provider: undefined,
      loadedAt: undefined,
      lastUsedAt: undefined,
      inFlight: 0,
      loads: 0,
      lastError: undefined,
    };
    entry.loading = this.loadInto(key, entry, target);
    this.entries.set(key, entry);
    return entry.loading;
  }

  private async loadInto(key: string, entry: Entry, target: LoadTarget): Promise<Entry> {
    const { logger } = this.dependencies;
    let worker: WorkerHandle | undefined;
    try {
      await this.dependencies.verifyModelFile(target.modelPath, target.sha256);
      worker = this.dependencies.spawnWorker();
      entry.worker = worker;
      this.watchExit(key, entry, worker);
      const signature = await worker.load({
        modelPath: target.modelPath,
        device: target.config.device,
        healthCheck: true,
        warmupShapes: target.config.warmupShapes,
      });
      for (const note of signature.notes) logger.warn({ event: "provider_fallback", model: target.name, version: target.version }, note);
      Object.assign(entry, { state: "ready", provider: signature.provider, loadedAt: this.now(), loading: undefined });
      entry.loads++;
      logger.info(
        { event: "model_loaded", model: target.name, version: target.version, pid: worker.pid, provider: signature.provider, load_ms: Math.round(signature.loadMilliseconds) },
        "model loaded",
      );
      return entry;
    } catch (error) {
      const failure = error instanceof ModelMoraError ? error : new ModelMoraError("MODEL_LOAD_FAILED", String(error));
      Object.assign(entry, { state: "unhealthy", lastError: failure.message, loading: undefined, worker: undefined });
      logger.error({ event: "model_load_failed", model: target.name, version: target.version, error: failure.message }, "model load failed");
      if (worker) await worker.terminate();
      throw failure.code === "CHECKSUM_MISMATCH" || failure.code === "MODEL_LOAD_FAILED"
        ? failure
        : new ModelMoraError("MODEL_LOAD_FAILED", failure.message);
    }
  }

  /** Forgets the entry only if it still holds the dead worker (another caller may have respawned it). */
  private forgetWorker(target: LoadTarget, deadPid: number): void {
    const key = keyOf(target.name, target.version);
    const entry = this.entries.get(key);
    if (entry?.state === "ready" && entry.worker?.pid === deadPid) this.entries.delete(key);
  }

  /** A worker that exits while still current is forgotten, so the next request respawns it. */
  private watchExit(key: string, entry: Entry, worker: WorkerHandle): void {
    void worker.exited.then((exit) => {
      if (this.entries.get(key) !== entry || entry.worker !== worker || entry.state !== "ready") return;
      this.entries.delete(key);
      this.dependencies.logger.warn(
        { event: "worker_exited", model: entry.name, version: entry.version, pid: worker.pid, exit_code: exit.exitCode, signal: exit.signalCode },
        "worker exited unexpectedly; it will be respawned on the next request",
      );
    });
  }

  private async stop(key: string, entry: Entry): Promise<void> {
    if (entry.loading) await entry.loading.catch(() => undefined);
    if (this.entries.get(key) === entry) this.entries.delete(key);
    if (entry.worker) {
      const pid = entry.worker.pid;
      await entry.worker.terminate();
      this.dependencies.logger.info({ event: "model_unloaded", model: entry.name, version: entry.version, pid }, "model unloaded");
    }
  }

  private describe(entry: Entry): WorkerStatus {
    const pid = entry.worker?.pid ?? null;
    return {
      name: entry.name,
      version: entry.version,
      state: entry.state,
      pid,
      rssBytes: pid === null ? null : (this.dependencies.probeMemory(pid) ?? null),
      provider: entry.provider ?? null,
      loadedAt: entry.loadedAt?.toISOString() ?? null,
      lastUsedAt: entry.lastUsedAt?.toISOString() ?? null,
      inFlight: entry.inFlight,
      loads: entry.loads,
      lastError: entry.lastError ?? null,
    };
  }
}

function keyOf(name: string, version: string): string {
  return `${name}\u0000${version}`;
}
