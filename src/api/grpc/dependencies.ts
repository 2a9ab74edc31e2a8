/** What every gRPC service module gets: the same services the REST plugins use, nothing else. */
import type { Readiness } from "../readiness.ts";
import type { ModelsService } from "../../inference/models-service.ts";
import type { InferenceService } from "../../inference/service.ts";
import type { StatusService } from "../../inference/status-service.ts";
import type { Logger } from "../../observability/logger.ts";
import type { JobsService } from "../../inference/jobs/jobs-service.ts";

export interface GrpcDependencies {
  inference: InferenceService;
  models: ModelsService;
  status: StatusService;
  readiness: Readiness;
  logger: Logger;
  /** Asynchronous jobs (src/api/grpc/modelmora/jobs-service.ts); absent where jobs are not served. */
  jobs?: { service: JobsService };
}
