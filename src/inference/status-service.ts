/**
 * What the server reports about itself, for every front end (REST /api/v1/status and /health/models,
 * gRPC ManagementService, the CLI through REST): each model version's workers, memory, shared memory
 * and queues, as view types of this layer. Transports call this service; none of them receives the
 * worker pool or the scheduler.
 */
import type { WorkerPool, WorkerStatus } from "../lifecycle/pool.ts";
import { probeProcessRss } from "../lifecycle/memory-probe.ts";
import type { SharedMemory } from "../lifecycle/shared-memory.ts";
import type { ModelQueueStats } from "../scheduler/model-scheduler.ts";
import type { ModelsService } from "./models-service.ts";
import type { InferenceService } from "./service.ts";

/**
 * One model version's workers, and one model version's queue counters, as every front end reports
 * them: the pool's and the scheduler's own records, named here so that transports import them from
 * this layer only.
 */
export type ModelStatusView = WorkerStatus;
export type QueueStatusView = ModelQueueStats;

export interface SystemStatusView {
  models: ModelStatusView[];
  memory: {
    serverRssBytes: number;
    workersRssBytes: number;
    /** Request tensors held in shared memory right now (queued or running). */
    sharedMemoryBytesInUse: number;
  };
  /** Totals over every model version, and each version's counters (keyed `name@version#sha256`). */
  queue: Omit<QueueStatusView, "enqueued"> & { models: Record<string, QueueStatusView> };
}

export class StatusService {
  constructor(
    private readonly pool: WorkerPool,
    private readonly inference: InferenceService,
    private readonly models: ModelsService,
    private readonly sharedMemory: SharedMemory,
  ) {}

  /** Every loaded (or loading, or unhealthy) model version, memory and queue totals. */
  system(): SystemStatusView {
    const models = this.pool.status();
    const perModel = this.inference.queueStats();
    const queues = Object.values(perModel);
    const sum = (pick: (stats: QueueStatusView) => number) => queues.reduce((total, stats) => total + pick(stats), 0);
    return {
      models,
      memory: {
        serverRssBytes: probeProcessRss(process.pid) ?? process.memoryUsage().rss,
        workersRssBytes: models.reduce((total, model) => total + (model.rssBytes ?? 0), 0),
        sharedMemoryBytesInUse: this.sharedMemory.inputBytesInUse(),
      },
      queue: {
        queued: sum((stats) => stats.queued),
        inFlightBatches: sum((stats) => stats.inFlightBatches),
        dispatched: sum((stats) => stats.dispatched),
        batches: sum((stats) => stats.batches),
        rejectedQueueFull: sum((stats) => stats.rejectedQueueFull),
        expired: sum((stats) => stats.expired),
        cancelled: sum((stats) => stats.cancelled),
        models: perModel,
      },
    };
  }

  /** The active version of every registered model (or of the one named), loaded or not. */
  async activeVersions(name?: string): Promise<ModelStatusView[]> {
    const wanted = name === undefined ? await this.models.list() : [await this.models.get(name)];
    return wanted.map((model) => this.pool.statusOf(model.name, model.activeVersion));
  }
}
