/**
 * modelmora.v1.InferRequest ↔ the inference service: the request's model, tensors, priority,
 * deadline and keep-alive as an `InferenceRequest`, and an answer as an `InferResponse` (raw when
 * the request was raw). Tensors use the KServe v2 conversions, so both gRPC APIs read them alike.
 */
import type { TraceCarrier } from "../../../observability/tracing.ts";
import { invalidInput } from "../../../errors.ts";
import { type Priority, parsePriority } from "../../../inference/priority.ts";
import type { InferenceRequest, TensorInferenceResponse } from "../../../inference/service.ts";
import { type ProtoInputTensor, type ProtoOutputTensor, toInputTensors, toProtoOutputs } from "../kserve-tensors.ts";

/** InferRequest as proto-loader decodes it (keepCase, defaults on; `keep_alive_seconds` absent when unset). */
export interface InferRequestMessage {
  model: string;
  version: string;
  id: string;
  priority: number;
  timeout_ms: number;
  keep_alive_seconds?: number;
  inputs: ProtoInputTensor[];
  outputs: { name: string }[];
  raw_input_contents: Buffer[];
  chunk_size_bytes: number;
}

export interface InferResponseMessage {
  model_name: string;
  model_version: string;
  id: string;
  outputs: ProtoOutputTensor[];
  raw_output_contents: Buffer[];
}

/** What the call contributes: its priority (x-priority metadata), time left, and cancellation. */
export interface RequestScope {
  priority: Priority;
  /** Microseconds until the call's deadline; undefined when it has none. */
  timeoutMicroseconds: number | undefined;
  signal: AbortSignal;
  trace?: TraceCarrier;
}

/** The inference service's request; malformed fields are INVALID_INPUT naming the field. */
export function toInferenceRequest(message: InferRequestMessage, scope: RequestScope): InferenceRequest {
  if (message.model === "") throw invalidInput("model: required", { field: "model" });
  const keepAliveSeconds = message.keep_alive_seconds;
  if (keepAliveSeconds !== undefined && keepAliveSeconds < -1) {
    throw invalidInput(`keep_alive_seconds must be -1 (forever), 0 (unload when idle) or more, got ${keepAliveSeconds}`, { field: "keep_alive_seconds" });
  }
  const timeoutMicroseconds = shortest(message.timeout_ms > 0 ? message.timeout_ms * 1000 : undefined, scope.timeoutMicroseconds);
  return {
    model: message.model,
    ...(message.version !== "" && { version: message.version }),
    ...(message.id !== "" && { id: message.id }),
    inputs: toInputTensors(message.inputs, message.raw_input_contents),
    ...(message.outputs.length > 0 && { outputs: message.outputs.map((output) => ({ name: output.name })) }),
    priority: message.priority === 0 ? scope.priority : parsePriority(message.priority, "priority"),
    ...(timeoutMicroseconds !== undefined && { timeoutMicroseconds }),
    ...(keepAliveSeconds !== undefined && { keepAliveSeconds }),
    signal: scope.signal,
    trace: scope.trace,
  };
}

/** The answer, mirroring the request: raw outputs when its inputs came raw. */
export function toInferResponse(response: TensorInferenceResponse, raw: boolean): InferResponseMessage {
  const { outputs, rawOutputContents } = toProtoOutputs(response.outputs, raw);
  return {
    model_name: response.model_name,
    model_version: response.model_version,
    id: response.id ?? "",
    outputs,
    raw_output_contents: rawOutputContents,
  };
}

export function isRawRequest(message: InferRequestMessage): boolean {
  return message.raw_input_contents.length > 0;
}

function shortest(first: number | undefined, second: number | undefined): number | undefined {
  if (first === undefined) return second;
  if (second === undefined) return first;
  return Math.min(first, second);
}
