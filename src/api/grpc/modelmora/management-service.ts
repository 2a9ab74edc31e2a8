/**
 * modelmora.v1.ManagementService: explicit load/unload, the system status (the content of
 * GET /api/v1/status), per-model health (/health/models), liveness and readiness (/health/*).
 * Not ready is an answer (`ready: false` with the reason), not an error, as a probe expects.
 */
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import type { ModelStatusView, QueueStatusView, SystemStatusView } from "../../../inference/status-service.ts";
import { readinessStatus } from "../../readiness.ts";
import type { GrpcDependencies } from "../dependencies.ts";
import { unary } from "../unary.ts";

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

export function managementServiceHandlers({ models, status, readiness, logger }: GrpcDependencies): UntypedServiceImplementation {
  return {
    LoadModel: unary(logger, async (request: NameAndVersion) => toWorkerStatusMessage(await models.load(request.name, optional(request.version)))),
    UnloadModel: unary(logger, async (request: NameAndVersion) => {
      await models.unload(request.name, optional(request.version));
      return { name: request.name, state: "unloaded" };
    }),
    GetSystemStatus: unary(logger, async () => {
      const system = status.system();
      return {
        models: system.models.map(toWorkerStatusMessage),
        memory: { server_rss_bytes: system.memory.serverRssBytes, workers_rss_bytes: system.memory.workersRssBytes },
        queue: queueStatus(system.queue),
      };
    }),
    GetModelHealth: unary(logger, async (request: { name: string }) => ({
      models: (await status.activeVersions(request.name === "" ? undefined : request.name)).map(toWorkerStatusMessage),
    })),
    Live: unary(logger, async () => ({ live: true })),
    Ready: unary(logger, async () => {
      const readiness_ = await readinessStatus(readiness);
      return { ready: readiness_ === "ready", status: readiness_ };
    }),
  };
}

export function toWorkerStatusMessage(status: ModelStatusView): WorkerStatusMessage {
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

/** The system view's queue totals in the proto's field names. */
function queueStatus(queue: SystemStatusView["queue"]) {
  return {
    queued: queue.queued,
    in_flight_batches: queue.inFlightBatches,
    dispatched: queue.dispatched,
    batches: queue.batches,
    rejected_queue_full: queue.rejectedQueueFull,
    expired: queue.expired,
    cancelled: queue.cancelled,
    models: Object.fromEntries(Object.entries(queue.models).map(([key, entry]) => [key, toModelQueueStatus(entry)])),
  };
}

function toModelQueueStatus(stats: QueueStatusView) {
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
