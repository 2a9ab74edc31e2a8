/**
 * modelmora.v1.InferRequest ↔ the inference service: the request's model, tensors, priority,
 * deadline and keep-alive as an `InferenceRequest`, and an answer as an `InferResponse` (raw when
 * the request was raw). Tensors use the KServe v2 conversions, so both gRPC APIs read them alike.
 */
import { invalidInput } from "../../../errors.ts";
import { parsePriority } from "../../../inference/priority.ts";
import type { InferenceRequest, TensorInferenceResponse } from "../../../inference/service.ts";
import { type CallContext, shorterTimeout } from "../call-context.ts";
import { type ProtoInputTensor, type ProtoOutputTensor, toInputTensors, toProtoOutputs } from "../kserve/tensors.ts";

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

/** The inference service's request; malformed fields are INVALID_INPUT naming the field. */
export function toInferenceRequest(message: InferRequestMessage, call: CallContext): InferenceRequest {
  if (message.model === "") throw invalidInput("model: required", { field: "model" });
  const keepAliveSeconds = message.keep_alive_seconds;
  if (keepAliveSeconds !== undefined && keepAliveSeconds < -1) {
    throw invalidInput(`keep_alive_seconds must be -1 (forever), 0 (unload when idle) or more, got ${keepAliveSeconds}`, { field: "keep_alive_seconds" });
  }
  const timeoutMicroseconds = shorterTimeout(message.timeout_ms > 0 ? message.timeout_ms * 1000 : undefined, call.timeoutMicroseconds);
  return {
    model: message.model,
    ...(message.version !== "" && { version: message.version }),
    ...(message.id !== "" && { id: message.id }),
    inputs: toInputTensors(message.inputs, message.raw_input_contents),
    ...(message.outputs.length > 0 && { outputs: message.outputs.map((output) => ({ name: output.name })) }),
    priority: message.priority === 0 ? call.priority : parsePriority(message.priority, "priority"),
    ...(timeoutMicroseconds !== undefined && { timeoutMicroseconds }),
    ...(keepAliveSeconds !== undefined && { keepAliveSeconds }),
    signal: call.signal,
    trace: call.trace,
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
