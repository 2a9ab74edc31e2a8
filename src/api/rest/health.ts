/** `/health/live` (the process answers), `/health/ready` (database reachable, preloaded, not shutting down), `/health/models`. */
import { Elysia } from "elysia";
import type { ModelsService } from "../../inference/models-service.ts";
import type { WorkerPool } from "../../lifecycle/pool.ts";

export interface Readiness {
  /** False once shutdown has begun. */
  accepting(): boolean;
  /** False until the models marked `preload` have loaded (or failed to). */
  preloaded(): boolean;
  /** Throws when the database cannot be reached. */
  checkDatabase(): Promise<void>;
}

export function healthPlugin(readiness: Readiness, models: ModelsService, pool: WorkerPool) {
  return new Elysia({ name: "health", prefix: "/health", detail: { tags: ["health"] } })
    .get("/live", () => ({ status: "live" }), { detail: { summary: "Liveness: the server process answers" } })
    .get(
      "/ready",
      async ({ set }) => {
        if (!readiness.accepting()) {
          set.status = 503;
          return { status: "shutting_down" };
        }
        if (!readiness.preloaded()) {
          set.status = 503;
          return { status: "preloading" };
        }
        try {
          await readiness.checkDatabase();
          return { status: "ready" };
        } catch {
          set.status = 503;
          return { status: "database_unavailable" };
        }
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
