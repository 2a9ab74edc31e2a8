/** `/health/live` (the process answers), `/health/ready` (database reachable, preloaded, not shutting down), `/health/models`. */
import { Elysia } from "elysia";
import type { StatusService } from "../../inference/status-service.ts";
import { type Readiness, readinessStatus } from "../readiness.ts";

export function healthPlugin(readiness: Readiness, status: StatusService) {
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
      async () => (await status.activeVersions()).map(({ pids: _pids, replicaInFlight: _replicaInFlight, ...model }) => model),
      {
        detail: {
          summary: "Per model (its active version): state, pid, rssBytes, provider, loads, evictions, restarts, lastUsedAt, lastError",
        },
      },
    );
}
