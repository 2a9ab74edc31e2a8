/**
 * The job RPCs of modelmora.v1.InferenceService: InferAsync, GetJob (and GetJobStatus, the same
 * call), GetJobResult (typed: job-result.ts), CancelJob. They call the one JobsService the REST jobs routes call, as the
 * caller the auth interceptor identified (an infer key reaches only its own jobs).
 */
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { ModelMoraError, invalidInput } from "../../../errors.ts";
import type { JobsService, JobView } from "../../../inference/jobs/jobs-service.ts";
import type { JsonTensor } from "../../../inference/tensor-codec.ts";
import { callPrincipal } from "../auth.ts";
import { callContext } from "../call-context.ts";
import type { GrpcDependencies } from "../dependencies.ts";
import { type InferRequestMessage, toInferenceRequest } from "./infer-request.ts";
import { unary } from "../unary.ts";
import { typedJobResult } from "./job-result.ts";

interface JobRequestMessage {
  job_id: string;
}

export function jobServiceHandlers({ jobs, logger }: GrpcDependencies): UntypedServiceImplementation {
  const service = (): JobsService => {
    if (!jobs) throw new ModelMoraError("ROUTE_NOT_FOUND", "this server does not serve jobs");
    return jobs.service;
  };
  const getJob = unary(logger, async (message: JobRequestMessage, call) => toJobMessage(await service().get(jobId(message), callPrincipal(call))));
  return {
    InferAsync: unary(logger, async (message: InferRequestMessage, call) => {
      if (message.raw_input_contents.length > 0) throw invalidInput("InferAsync takes typed contents; raw_input_contents is not stored in jobs", { field: "raw_input_contents" });
      const request = toInferenceRequest(message, callContext(call));
      const view = await service().submit({
        model: request.model,
        version: request.version,
        priority: request.priority,
        request: { kind: "tensor", id: request.id, inputs: request.inputs as JsonTensor[], outputs: request.outputs, timeoutMicroseconds: request.timeoutMicroseconds, keepAliveSeconds: request.keepAliveSeconds },
      }, callPrincipal(call));
      return toJobMessage(view);
    }),
    GetJob: getJob,
    GetJobStatus: getJob,
    GetJobResult: unary(logger, async (message: JobRequestMessage, call) => {
      const { kind, answer } = await service().typedResult(jobId(message), callPrincipal(call));
      return { job_id: jobId(message), ...typedJobResult(kind, answer) };
    }),
    CancelJob: unary(logger, async (message: JobRequestMessage, call) => toJobMessage(await service().cancel(jobId(message), callPrincipal(call)))),
  };
}

function jobId(message: JobRequestMessage): string {
  if (message.job_id === "") throw invalidInput("job_id: required", { field: "job_id" });
  return message.job_id;
}

function toJobMessage(view: JobView) {
  return {
    job_id: view.jobId,
    status: view.status,
    model: view.model,
    version: view.version ?? "",
    priority: view.priority,
    attempts: view.attempts,
    max_attempts: view.maxAttempts,
    created_at: view.createdAt,
    updated_at: view.updatedAt,
    started_at: view.startedAt ?? "",
    finished_at: view.finishedAt ?? "",
    error: view.error ? { code: view.error.code, message: view.error.message, details_json: view.error.details ? JSON.stringify(view.error.details) : "" } : null,
    result_size_bytes: view.resultSizeBytes ?? 0,
    callback: view.callback
      ? { state: view.callback.state ?? "", attempts: view.callback.attempts, next_attempt_at: view.callback.nextAttemptAt ?? "", last_error: view.callback.lastError ?? "" }
      : null,
  };
}
