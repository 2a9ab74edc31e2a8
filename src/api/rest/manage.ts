/** `/api/v1/models/{name}/load|unload` and `/api/v1/status`: explicit worker control and a system view. */
import { Elysia, t } from "elysia";
import type { ModelsService } from "../../inference/models-service.ts";
import type { InferenceService } from "../../inference/service.ts";
import type { WorkerPool } from "../../lifecycle/pool.ts";
import { probeProcessRss } from "../../lifecycle/memory-probe.ts";
import { ErrorModel } from "./schemas.ts";

const VersionQuery = t.Object({ version: t.Optional(t.String()) });

export function managePlugin(models: ModelsService, inference: InferenceService, pool: WorkerPool) {
  return new Elysia({ name: "manage", detail: { tags: ["management"] } })
    .post("/api/v1/models/:name/load", ({ params, query }) => models.load(params.name, query.version), {
      query: VersionQuery,
      response: { 404: ErrorModel, 422: ErrorModel, 503: ErrorModel },
      detail: { summary: "Load a model's worker now (clears an unhealthy mark)" },
    })
    .post(
      "/api/v1/models/:name/unload",
      async ({ params, query }) => {
        await models.unload(params.name, query.version);
        return { name: params.name, state: "unloaded" as const };
      },
      { query: VersionQuery, response: { 404: ErrorModel }, detail: { summary: "Stop a model's worker process(es)" } },
    )
    .get(
      "/api/v1/status",
      () => {
        const workers = pool.status();
        const workersRssBytes = workers.reduce((total, worker) => total + (worker.rssBytes ?? 0), 0);
        return {
          models: workers.map((worker) => ({ ...worker })),
          memory: { serverRssBytes: probeProcessRss(process.pid) ?? process.memoryUsage().rss, workersRssBytes },
          queue: queueSummary(inference.queueStats()),
        };
      },
      { detail: { summary: "Loaded models with pid, RSS and provider; memory and queue totals" } },
    );
}

function queueSummary(perModel: ReturnType<InferenceService["queueStats"]>) {
  const models = Object.values(perModel);
  const sum = (pick: (stats: (typeof models)[number]) => number) => models.reduce((total, stats) => total + pick(stats), 0);
  return {
    queued: sum((stats) => stats.queued),
    inFlightBatches: sum((stats) => stats.inFlightBatches),
    dispatched: sum((stats) => stats.dispatched),
    batches: sum((stats) => stats.batches),
    rejectedQueueFull: sum((stats) => stats.rejectedQueueFull),
    expired: sum((stats) => stats.expired),
    cancelled: sum((stats) => stats.cancelled),
    models: perModel,
  };
}
