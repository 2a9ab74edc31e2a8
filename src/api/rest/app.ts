/**
 * Composes the REST front end: access log and request id, error mapping, OpenAPI docs (Swagger UI
 * at /swagger from local assets, the document at /swagger/json, links at /), one plugin per
 * resource, /metrics.
 */
import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";
import type { ModelsService } from "../../inference/models-service.ts";
import type { InferenceService } from "../../inference/service.ts";
import type { StatusService } from "../../inference/status-service.ts";
import type { Logger } from "../../observability/logger.ts";
import { type RestAuthOptions, authPlugin } from "./auth.ts";
import type { Metrics } from "../../observability/metrics.ts";
import { accessLogPlugin } from "./access-log.ts";
import { bodyLimitPlugin, bunBodyCapBytes } from "./body-limit.ts";
import { corsPlugin } from "./cors.ts";
import { docsPlugin } from "./docs.ts";
import { errorsPlugin } from "./errors-plugin.ts";
import type { Readiness } from "../readiness.ts";
import { healthPlugin } from "./health.ts";
import { inferPlugin } from "./infer.ts";
import { jobsPlugin } from "./jobs.ts";
import type { JobsService } from "../../inference/jobs/jobs-service.ts";
import { kservePlugin } from "./kserve.ts";
import { managePlugin } from "./manage.ts";
import { metricsPlugin } from "./metrics.ts";
import { modelsPlugin } from "./models.ts";
import { openAiPlugin } from "./openai.ts";
import { teiPlugin } from "./tei.ts";
import type { GenerationService } from "../../inference/generation/service.ts";
import { generationPlugins } from "./generation-plugins.ts";

export interface RestDependencies {
  models: ModelsService;
  inference: InferenceService;
  status: StatusService;
  readiness: Readiness;
  logger: Logger;
  maxBodyBytes: number;
  /** API keys and scopes (src/api/rest/auth.ts); the keys may be empty (authentication off). */
  auth: RestAuthOptions;
  /** Served at /metrics and fed by the access log; absent in route tests that do not need it. */
  metrics?: Metrics;
  /** MODELMORA_CORS_ORIGINS: comma-separated origins or "*"; unset = no CORS. */
  corsOrigins?: string;
  /** txt2txt: /api/v1/generate and OpenAI chat/completions; absent in route tests that do not need it. */
  generation?: GenerationService;
  /** Asynchronous jobs (src/api/rest/jobs.ts); absent in route tests that do not need them. */
  jobs?: JobsService;
}

export function createRestApp(dependencies: RestDependencies) {
  const { models, inference, status, readiness, logger } = dependencies;
  // normalize: false makes `additionalProperties: false` reject unknown keys instead of dropping them.
  return new Elysia({ serve: { maxRequestBodySize: bunBodyCapBytes(dependencies.maxBodyBytes) }, normalize: false })
    .use(accessLogPlugin(logger, dependencies.metrics))
    .use(corsPlugin(dependencies.corsOrigins))
    // Before errorsPlugin: its onError only notes the failure for the audit line, errorsPlugin answers.
    .use(authPlugin(dependencies.auth))
    // After auth: a chunked body is read here, and only for a caller with a key.
    .use(bodyLimitPlugin(dependencies.maxBodyBytes))
    .use(errorsPlugin(logger))
    .use(docsPlugin())
    .use(
      swagger({
        path: "/swagger",
        documentation: {
          info: { title: "ModelMora", version: "0.1.0", description: "ONNX model server: registry, lazy worker processes, REST inference" },
        },
      }),
    )
    .use(healthPlugin(readiness, status))
    .use(modelsPlugin(models))
    .use(managePlugin(models, status))
    .use(inferPlugin(inference))
    .use(dependencies.jobs ? jobsPlugin(dependencies.jobs) : new Elysia({ name: "jobs" }))
    .use(kservePlugin(models, inference, readiness))
    .use(openAiPlugin(models, inference, logger))
    .use(teiPlugin(models, inference, logger))
    .use(generationPlugins(dependencies.generation, logger))
    .use(dependencies.metrics ? metricsPlugin(dependencies.metrics) : new Elysia({ name: "metrics" }));
}

export type RestApp = ReturnType<typeof createRestApp>;
