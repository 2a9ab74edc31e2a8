/** `/health/live` (the process answers), `/health/ready` (database reachable, preloaded, not shutting down), `/health/models`. */
import { Elysia } from "elysia";
import type { ModelsService } from "../../inference/models-service.ts";
import type { WorkerPool } from "../../lifecycle/pool.ts";
import { type Readiness, readinessStatus } from "../readiness.ts";

export function healthPlugin(readiness: Readiness, models: ModelsService, pool: WorkerPool) {
  return new Elysia({ name: "health", prefix: "/health", detail: { tags: ["health"] } })
    .get("/live", () => ({ status: "live" }), { detail: { summary: "Liveness: the server process answers" } })
    .get(
      "/ready",
      async ({ set }) => {
        const status = await readinessStatus(readiness);
        if (status !== "ready") set.status = 503;
        return { status };
      },
      { detail: { summary: "Readiness: preload done, accepting requests, and the database answers" } },
    )
    .get(
      "/models",
      async () =>
        (await models.list()).map((model) => {
          const { pids: _pids, replicaInFlight: _replicaInFlight, ...status } = pool.statusOf(model.name, model.activeVersion);
          return status;
        }),
      {
        detail: {
          summary: "Per model (its active version): state, pid, rssBytes, provider, loads, evictions, restarts, lastUsedAt, lastError",
        },
      },
    );
}
