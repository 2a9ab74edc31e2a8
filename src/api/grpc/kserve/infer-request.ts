/**
 * KServe v2 ModelInferRequest ↔ the inference service: the request's model, tensors and parameters
 * as an `InferenceRequest`, and an answer (or a stream's per-request failure) as a message.
 *
 * Request parameters (ModelInferRequest.parameters), as on REST:
 * - `priority` (1..4 or critical|high|normal|low) wins over `x-priority` metadata, which is the
 *   call's default: on a stream the metadata is shared while each message may name its own level.
 * - `timeout_ms` (> 0) bounds the request's time in the server; with a gRPC deadline as well, the
 *   shorter one applies.
 * - `keep_alive_seconds` (integer, -1 = forever, 0 = unload when idle).
 * Other parameters are ignored, as KServe allows.
 */
import type { ServiceError } from "@grpc/grpc-js";
import { invalidInput } from "../../../errors.ts";
import { parsePriority } from "../../../inference/priority.ts";
import type { InferenceRequest, TensorInferenceResponse } from "../../../inference/service.ts";
import { type CallContext, shorterTimeout } from "../call-context.ts";
import { CODE_METADATA_KEY } from "../status-mapping.ts";
import { type InferParameter, type ProtoInputTensor, type ProtoOutputTensor, parameterValue, toInputTensors, toProtoOutputs } from "./tensors.ts";

/** ModelInferRequest as proto-loader decodes it (PROTO_LOADER_OPTIONS: defaults on, longs as strings). */
export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: ProtoInputTensor[];
  outputs: { name: string; parameters: Record<string, InferParameter> }[];
  raw_input_contents: Buffer[];
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: Record<string, InferParameter>;
  outputs: ProtoOutputTensor[];
  raw_output_contents: Buffer[];
}

/** One answer on ModelStreamInfer: either `infer_response`, or `error_message` (Triton's shape). */
export interface ModelStreamInferResponse {
  error_message: string;
  infer_response: ModelInferResponse | null;
}

/** The service's request for one ModelInferRequest; `call` gives the defaults (x-priority, deadline, cancellation). */
export function toInferenceRequest(request: ModelInferRequest, call: CallContext): InferenceRequest {
  const parameters = request.parameters ?? {};
  const priority = parameterValue(parameters.priority);
  const timeoutMilliseconds = parameterValue(parameters.timeout_ms);
  const keepAliveSeconds = parameterValue(parameters.keep_alive_seconds);
  if (timeoutMilliseconds !== undefined && !(typeof timeoutMilliseconds === "number" && timeoutMilliseconds > 0 && Number.isFinite(timeoutMilliseconds))) {
    throw invalidInput(`parameters.timeout_ms must be a number > 0, got ${JSON.stringify(timeoutMilliseconds)}`, { field: "parameters.timeout_ms" });
  }
  if (keepAliveSeconds !== undefined && !(typeof keepAliveSeconds === "number" && Number.isSafeInteger(keepAliveSeconds) && keepAliveSeconds >= -1)) {
    throw invalidInput(`parameters.keep_alive_seconds must be an integer >= -1, got ${JSON.stringify(keepAliveSeconds)}`, { field: "parameters.keep_alive_seconds" });
  }
  const requested = timeoutMilliseconds === undefined ? undefined : Math.round(timeoutMilliseconds * 1000);
  return {
    model: request.model_name,
    version: request.model_version || undefined,
    id: request.id,
    inputs: toInputTensors(request.inputs, request.raw_input_contents),
    outputs: request.outputs.length > 0 ? request.outputs.map((output) => ({ name: output.name })) : undefined,
    priority: priority === undefined ? call.priority : parsePriority(priority, "parameters.priority"),
    timeoutMicroseconds: shorterTimeout(requested, call.timeoutMicroseconds),
    keepAliveSeconds,
    signal: call.signal,
    trace: call.trace,
  };
}

/** The answer, mirroring the request: raw outputs when its inputs came raw. */
export function toInferResponse(result: TensorInferenceResponse, request: ModelInferRequest): ModelInferResponse {
  const { outputs, rawOutputContents } = toProtoOutputs(result.outputs, request.raw_input_contents.length > 0);
  return { model_name: result.model_name, model_version: result.model_version, id: request.id, outputs, raw_output_contents: rawOutputContents };
}

/** A failed stream request: the message, and the request's id with the domain code so clients can match it. */
export function streamError(request: ModelInferRequest, error: Partial<ServiceError>): ModelStreamInferResponse {
  const [code] = error.metadata?.get(CODE_METADATA_KEY) ?? [];
  return {
    error_message: error.details ?? "internal error",
    infer_response: {
      model_name: request.model_name,
      model_version: request.model_version,
      id: request.id,
      parameters: { error_code: { string_param: String(code ?? "INTERNAL") } },
      outputs: [],
      raw_output_contents: [],
    },
  };
}
