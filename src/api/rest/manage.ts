/** `/api/v1/models/{name}/load|unload` and `/api/v1/status`: explicit worker control and a system view. */
import { Elysia, t } from "elysia";
import type { ModelsService } from "../../inference/models-service.ts";
import type { StatusService } from "../../inference/status-service.ts";
import { errorResponses } from "./error-responses.ts";

const VersionQuery = t.Object({ version: t.Optional(t.String()) });

export function managePlugin(models: ModelsService, status: StatusService) {
  return new Elysia({ name: "manage", detail: { tags: ["management"] } })
    .post("/api/v1/models/:name/load", ({ params, query }) => models.load(params.name, query.version), {
      query: VersionQuery,
      response: errorResponses("load"),
      detail: { summary: "Load a model's worker now (clears an unhealthy mark)" },
    })
    .post(
      "/api/v1/models/:name/unload",
      async ({ params, query }) => {
        await models.unload(params.name, query.version);
        return { name: params.name, state: "unloaded" as const };
      },
      { query: VersionQuery, response: errorResponses("unload"), detail: { summary: "Stop a model's worker process(es)" } },
    )
    .get("/api/v1/status", () => status.system(), {
      detail: { summary: "Loaded models with pid, RSS and provider; memory (with shared memory in use) and queue totals" },
    });
}
