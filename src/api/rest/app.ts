/** Composes the REST front end: error mapping, OpenAPI docs at /swagger, one plugin per resource. */
import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";
import type { ModelsService } from "../../inference/models-service.ts";
import type { InferenceService } from "../../inference/service.ts";
import type { WorkerPool } from "../../lifecycle/pool.ts";
import type { Logger } from "../../observability/logger.ts";
import { bodyLimitPlugin, bunBodyCapBytes } from "./body-limit.ts";
import { errorsPlugin } from "./errors-plugin.ts";
import type { Readiness } from "../readiness.ts";
import { healthPlugin } from "./health.ts";
import { inferPlugin } from "./infer.ts";
import { kservePlugin } from "./kserve.ts";
import { managePlugin } from "./manage.ts";
import { modelsPlugin } from "./models.ts";
import { openAiPlugin } from "./openai.ts";
import { teiPlugin } from "./tei.ts";

export interface RestDependencies {
  models: ModelsService;
  inference: InferenceService;
  pool: WorkerPool;
  readiness: Readiness;
  logger: Logger;
  maxBodyBytes: number;
}

export function createRestApp(dependencies: RestDependencies) {
  const { models, inference, pool, readiness, logger } = dependencies;
  // normalize: false makes `additionalProperties: false` reject unknown keys instead of dropping them.
  return new Elysia({ serve: { maxRequestBodySize: bunBodyCapBytes(dependencies.maxBodyBytes) }, normalize: false })
    .use(bodyLimitPlugin(dependencies.maxBodyBytes))
    .use(errorsPlugin(logger))
    .use(
      swagger({
        path: "/swagger",
        documentation: {
          info: { title: "ModelMora", version: "0.1.0", description: "ONNX model server: registry, lazy worker processes, REST inference" },
        },
      }),
    )
    .use(healthPlugin(readiness, models, pool))
    .use(modelsPlugin(models))
    .use(managePlugin(models, inference, pool))
    .use(inferPlugin(inference))
    .use(kservePlugin(models, inference, readiness))
    .use(openAiPlugin(models, inference, logger))
    .use(teiPlugin(models, inference, logger));
}

export type RestApp = ReturnType<typeof createRestApp>;
