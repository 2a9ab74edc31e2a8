/**
 * The pool's reference to one model version, after ollama's `runnerRef` (`server/sched.go`): its
 * state, its replicas and the batches in flight on each (the reference count: a model with any is
 * busy and never evicted), its keep-alive wish and idle timer, and the history that outlives it.
 *
 * Invariants:
 * - `ModelRefs` holds at most one reference per model key; a reference that is no longer the one in
 *   the table (stopped, dropped, replaced) is stale, and every callback checks `isCurrent` first;
 * - only the pool and its parts (loader, keep-alive, capacity) mutate a reference.
 */
import type { ModelConfig } from "../registry/model-config.ts";
import type { Provider } from "../../workers/protocol.ts";
import type { WorkerHandle } from "./worker-process.ts";

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

/** One worker process of a model, with the batches it is running. */
export interface Replica {
  worker: WorkerHandle;
  inFlight: number;
}

/** What the pool remembers about a model version across loads, unloads and evictions. */
export interface LoadHistory {
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

/** A model version the pool holds: loading, ready or unhealthy (an unloaded one has no reference). */
export interface ModelRef {
  key: string;
  target: LoadTarget;
  history: LoadHistory;
  state: Exclude<WorkerState, "unloaded">;
  replicas: Replica[];
  loading: Promise<ModelRef> | undefined;
  /** A replacement for a lost replica is being started. */
  replenishing: boolean;
  provider: Provider | undefined;
  loadedAt: Date | undefined;
  /** Footprint counted while loading (no process to measure yet). */
  estimateBytes: number;
  /** A request's keep-alive wish, which holds until unload; the config's applies without one. */
  keepAliveOverrideSeconds: number | undefined;
  cancelIdleTimer: (() => void) | undefined;
}

/** The table of references and histories, by model key. */
export class ModelRefs {
  private readonly refs = new Map<string, ModelRef>();
  private readonly histories = new Map<string, LoadHistory>();

  get(key: string): ModelRef | undefined {
    return this.refs.get(key);
  }

  has(key: string): boolean {
    return this.refs.has(key);
  }

  set(ref: ModelRef): void {
    this.refs.set(ref.key, ref);
  }

  delete(key: string): void {
    this.refs.delete(key);
  }

  values(): IterableIterator<ModelRef> {
    return this.refs.values();
  }

  /** Whether `ref` is still the table's reference for its key (not stopped, dropped or replaced). */
  isCurrent(ref: ModelRef): boolean {
    return this.refs.get(ref.key) === ref;
  }

  /** Removes `ref` if it is still current; a stale reference leaves its successor alone. */
  forget(ref: ModelRef): void {
    if (this.isCurrent(ref)) this.refs.delete(ref.key);
  }

  /** The reference of one model version by name and version (whatever file it was loaded from). */
  find(name: string, version: string): ModelRef | undefined {
    for (const ref of this.refs.values()) if (ref.target.name === name && ref.target.version === version) return ref;
    return undefined;
  }

  /** The history of `key`, created empty on first use. */
  historyOf(key: string): LoadHistory {
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

  /** The history of `key` if it has one (never creates). */
  existingHistoryOf(key: string): LoadHistory | undefined {
    return this.histories.get(key);
  }

  /** The latest history of a model version by name and version, for the status of an unloaded one. */
  lastHistoryOf(name: string, version: string): LoadHistory | undefined {
    let history: LoadHistory | undefined;
    for (const [key, candidate] of this.histories) if (key.startsWith(`${name}@${version}#`)) history = candidate;
    return history;
  }
}

/** Loading, replacing a lost replica, or running a batch: never evicted. */
export function isBusy(ref: ModelRef): boolean {
  return ref.state === "loading" || ref.replenishing || hasWorkInFlight(ref);
}

/** The reference count: any batch running on any replica. */
export function hasWorkInFlight(ref: ModelRef): boolean {
  return ref.replicas.some((replica) => replica.inFlight > 0);
}

export function replicaCountOf(target: LoadTarget): number {
  return Math.max(1, target.config.replicas);
}

/** Seconds idle before unloading: 0 = as soon as idle, -1 = never. */
export function keepAliveSecondsOf(ref: ModelRef): number {
  return ref.keepAliveOverrideSeconds ?? ref.target.config.keepAliveSeconds;
}
