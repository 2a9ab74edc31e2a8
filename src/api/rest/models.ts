/** `/api/v1/models`: register, list, get, update config, delete, switch the active version. */
import { Elysia, t } from "elysia";
import type { ModelsService } from "../../inference/models-service.ts";
import { ModelConfigPatchModel, RegisterModelBody } from "../../registry/schemas.ts";
import { errorResponses } from "./error-responses.ts";
import { ModelView } from "./schemas.ts";

export function modelsPlugin(models: ModelsService) {
  return new Elysia({ name: "models", prefix: "/api/v1/models", detail: { tags: ["models"] } })
    .post(
      "",
      async ({ body, set }) => {
        set.status = 201;
        // The same defaults as `modelmora install`.
        return models.register({ ...body, version: body.version ?? "1", task: body.task ?? "tensor" });
      },
      { body: RegisterModelBody, response: { 201: ModelView, ...errorResponses("register") }, detail: { summary: "Register a model version" } },
    )
    .get("", ({ query }) => models.list({ task: query.task }), {
      query: t.Object({ task: t.Optional(t.String()) }),
      response: { 200: t.Array(ModelView), ...errorResponses("read") },
      detail: { summary: "List models, optionally by task" },
    })
    .get("/:name", ({ params }) => models.get(params.name), { response: { 200: ModelView, ...errorResponses("read") }, detail: { summary: "One model" } })
    .put("/:name", ({ params, body }) => models.updateConfig(params.name, body.config), {
      body: t.Object({ config: ModelConfigPatchModel }),
      response: { 200: ModelView, ...errorResponses("change") },
      detail: { summary: "Update a model's config (applies to workers started afterwards)" },
    })
    .delete("/:name", ({ params }) => models.delete(params.name), {
      response: { 200: ModelView, ...errorResponses("change") },
      detail: { summary: "Unload a model and remove it with all versions and cached files" },
    })
    .post("/:name/versions/:version", ({ params }) => models.setActiveVersion(params.name, params.version), {
      response: { 200: ModelView, ...errorResponses("change") },
      detail: { summary: "Make a registered version the active one" },
    });
}
