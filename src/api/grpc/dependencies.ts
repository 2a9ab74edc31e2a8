/** What every gRPC service module gets: the same services the REST plugins use, nothing else. */
import type { Readiness } from "../readiness.ts";
import type { ModelsService } from "../../inference/models-service.ts";
import type { InferenceService } from "../../inference/service.ts";
import type { StatusService } from "../../inference/status-service.ts";
import type { Logger } from "../../observability/logger.ts";
import type { GenerationService } from "../../inference/generation/service.ts";
import type { JobsService } from "../../inference/jobs/jobs-service.ts";

export interface GrpcDependencies {
  inference: InferenceService;
  models: ModelsService;
  status: StatusService;
  readiness: Readiness;
  logger: Logger;
  /** Requests one bidirectional stream may have unanswered (bidi-stream.ts); the default when absent. */
  maxPendingPerStream?: number;
  /** txt2txt (modelmora.v1 Generate); absent where a test builds the server without it. */
  generation?: GenerationService;
  /** Asynchronous jobs (src/api/grpc/modelmora/jobs-service.ts); absent where jobs are not served. */
  jobs?: { service: JobsService };
}
