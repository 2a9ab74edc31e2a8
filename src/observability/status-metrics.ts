/**
 * Metrics read at scrape time from the views /api/v1/status already serves: queue depth per model
 * version, loaded models, worker RSS, and the pool's cumulative loads, evictions and restarts
 * (which survive unloads, so they are read for every registered model's active version as well
 * as for every version the pool holds).
 */
import { Counter, Gauge } from "prom-client";
import type { ModelsService } from "../inference/models-service.ts";
import type { InferenceService } from "../inference/service.ts";
import type { WorkerPool, WorkerStatus } from "../lifecycle/pool.ts";
import type { Metrics } from "./metrics.ts";
import { queueLabels } from "./scheduler-metrics.ts";

export interface StatusSources {
  pool: Pick<WorkerPool, "status" | "statusOf">;
  inference: Pick<InferenceService, "queueStats">;
  models: Pick<ModelsService, "list">;
}

export function registerStatusMetrics(metrics: Metrics, sources: StatusSources): void {
  const registers = [metrics.registry];
  new Gauge({
    name: "modelmora_queue_depth",
    help: "Requests waiting in a model version's queue",
    labelNames: ["model", "version"] as const,
    registers,
    collect() {
      this.reset();
      for (const [queue, stats] of Object.entries(sources.inference.queueStats())) this.inc(queueLabels(queue), stats.queued);
    },
  });
  new Gauge({
    name: "modelmora_loaded_models",
    help: "Model versions with at least one worker process (loading or ready)",
    registers,
    collect() {
      this.set(sources.pool.status().filter((status) => status.pids.length > 0 || status.state === "loading").length);
    },
  });
  new Gauge({
    name: "modelmora_worker_rss_bytes",
    help: "Resident memory of a model version's worker processes together, in bytes",
    labelNames: ["model", "version"] as const,
    registers,
    collect() {
      this.reset();
      for (const status of sources.pool.status()) if (status.rssBytes !== null) this.set({ model: status.name, version: status.version }, status.rssBytes);
    },
  });
  const poolCounter = (name: string, help: string, read: (status: WorkerStatus) => number) =>
    new Counter({
      name,
      help,
      labelNames: ["model", "version"] as const,
      registers,
      async collect() {
        this.reset();
        for (const status of await knownStatuses(sources)) {
          const value = read(status);
          if (value > 0) this.inc({ model: status.name, version: status.version }, value);
        }
      },
    });
  poolCounter("modelmora_model_loads_total", "Successful model loads since the server started", (status) => status.loads);
  poolCounter("modelmora_model_evictions_total", "Models unloaded to make room under the memory budget or the loaded-models cap", (status) => status.evictions);
  poolCounter("modelmora_worker_restarts_total", "Workers started again after one exited unexpectedly", (status) => status.restarts);
}

/** The status of every version the pool holds plus every registered model's active version. */
async function knownStatuses(sources: StatusSources): Promise<WorkerStatus[]> {
  const byKey = new Map<string, WorkerStatus>();
  for (const status of sources.pool.status()) byKey.set(`${status.name}@${status.version}`, status);
  for (const model of await sources.models.list()) {
    const key = `${model.name}@${model.activeVersion}`;
    if (!byKey.has(key)) byKey.set(key, sources.pool.statusOf(model.name, model.activeVersion));
  }
  return [...byKey.values()];
}
