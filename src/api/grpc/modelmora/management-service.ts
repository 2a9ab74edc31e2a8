/**
 * modelmora.v1.ManagementService: explicit load/unload, the system status (the content of
 * GET /api/v1/status), per-model health (/health/models), liveness and readiness (/health/*).
 * Not ready is an answer (`ready: false` with the reason), not an error, as a probe expects.
 */
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import type { InferenceService } from "../../../inference/service.ts";
import type { WorkerStatus } from "../../../lifecycle/pool.ts";
import { probeProcessRss } from "../../../lifecycle/memory-probe.ts";
import type { ModelQueueStats } from "../../../scheduler/model-scheduler.ts";
import { type Readiness, readinessStatus } from "../../readiness.ts";
import type { GrpcDependencies } from "../dependencies.ts";
import { unary } from "./rpc-errors.ts";

export interface WorkerStatusMessage {
  name: string;
  version: string;
  state: string;
  pid: number;
  pids: number[];
  rss_bytes: number;
  provider: string;
  loaded_at: string;
  last_used_at: string;
  in_flight: number;
  replica_in_flight: number[];
  loads: number;
  evictions: number;
  restarts: number;
  consecutive_load_failures: number;
  last_error: string;
}

interface NameAndVersion {
  name: string;
  version: string;
}

export function managementServiceHandlers({ models, inference, pool, readiness, logger }: GrpcDependencies): UntypedServiceImplementation {
  return {
    LoadModel: unary(logger, async (request: NameAndVersion) => toWorkerStatusMessage(await models.load(request.name, optional(request.version)))),
    UnloadModel: unary(logger, async (request: NameAndVersion) => {
      await models.unload(request.name, optional(request.version));
      return { name: request.name, state: "unloaded" };
    }),
    GetSystemStatus: unary(logger, async () => {
      const workers = pool.status();
      return {
        models: workers.map(toWorkerStatusMessage),
        memory: {
          server_rss_bytes: probeProcessRss(process.pid) ?? process.memoryUsage().rss,
          workers_rss_bytes: workers.reduce((total, worker) => total + (worker.rssBytes ?? 0), 0),
        },
        queue: queueStatus(inference.queueStats()),
      };
    }),
    GetModelHealth: unary(logger, async (request: { name: string }) => {
      const wanted = request.name === "" ? await models.list() : [await models.get(request.name)];
      return { models: wanted.map((model) => toWorkerStatusMessage(pool.statusOf(model.name, model.activeVersion))) };
    }),
    Live: unary(logger, async () => ({ live: true })),
    Ready: unary(logger, async () => {
      const status = await readinessStatus(readiness);
      return { ready: status === "ready", status };
    }),
  };
}

export function toWorkerStatusMessage(status: WorkerStatus): WorkerStatusMessage {
  return {
    name: status.name,
    version: status.version,
    state: status.state,
    pid: status.pid ?? 0,
    pids: status.pids,
    rss_bytes: status.rssBytes ?? 0,
    provider: status.provider ?? "",
    loaded_at: status.loadedAt ?? "",
    last_used_at: status.lastUsedAt ?? "",
    in_flight: status.inFlight,
    replica_in_flight: status.replicaInFlight,
    loads: status.loads,
    evictions: status.evictions,
    restarts: status.restarts,
    consecutive_load_failures: status.consecutiveLoadFailures,
    last_error: status.lastError ?? "",
  };
}

/** Totals over every model version, and each version's counters (keyed `name@version#sha256`). */
function queueStatus(perModel: ReturnType<InferenceService["queueStats"]>) {
  const stats = Object.values(perModel);
  const sum = (pick: (entry: ModelQueueStats) => number) => stats.reduce((total, entry) => total + pick(entry), 0);
  return {
    queued: sum((entry) => entry.queued),
    in_flight_batches: sum((entry) => entry.inFlightBatches),
    dispatched: sum((entry) => entry.dispatched),
    batches: sum((entry) => entry.batches),
    rejected_queue_full: sum((entry) => entry.rejectedQueueFull),
    expired: sum((entry) => entry.expired),
    cancelled: sum((entry) => entry.cancelled),
    models: Object.fromEntries(Object.entries(perModel).map(([key, entry]) => [key, toModelQueueStatus(entry)])),
  };
}

function toModelQueueStatus(stats: ModelQueueStats) {
  return {
    queued: stats.queued,
    in_flight_batches: stats.inFlightBatches,
    enqueued: stats.enqueued,
    dispatched: stats.dispatched,
    batches: stats.batches,
    rejected_queue_full: stats.rejectedQueueFull,
    expired: stats.expired,
    cancelled: stats.cancelled,
  };
}

function optional(value: string): string | undefined {
  return value === "" ? undefined : value;
}
