/**
 * The status view of a model version's workers, built from the pool's reference (or, for an
 * unloaded model, from the history that outlives it). Read by the inference layer and the CLI.
 */
import type { Provider } from "../../workers/protocol.ts";
import type { ProbeMemory } from "./memory-probe.ts";
import type { LoadHistory, ModelRef, WorkerState } from "./model-ref.ts";

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

/** The status of a model version the pool holds (loading, ready or unhealthy). */
export function describeModel(ref: ModelRef, probeMemory: ProbeMemory): WorkerStatus {
  const { history } = ref;
  const pids = ref.replicas.map((replica) => replica.worker.pid);
  const rss = pids.map((pid) => probeMemory(pid));
  return {
    name: ref.target.name,
    version: ref.target.version,
    state: ref.state,
    pid: pids[0] ?? null,
    pids,
    rssBytes: rss.length === 0 || rss.some((value) => value === undefined) ? null : rss.reduce((total, value) => total! + value!, 0)!,
    provider: ref.provider ?? null,
    loadedAt: ref.loadedAt?.toISOString() ?? null,
    lastUsedAt: history.lastUsedAt?.toISOString() ?? null,
    inFlight: ref.replicas.reduce((total, replica) => total + replica.inFlight, 0),
    replicaInFlight: ref.replicas.map((replica) => replica.inFlight),
    loads: history.loads,
    evictions: history.evictions,
    restarts: history.restarts,
    consecutiveLoadFailures: history.consecutiveLoadFailures,
    lastError: history.lastError ?? null,
  };
}

/** The status of a model version with no workers: counters from its history, if it ever had one. */
export function describeUnloaded(name: string, version: string, history: LoadHistory | undefined): WorkerStatus {
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
