/**
 * InferStream: many requests on one bidirectional call, served by the shared stream helper
 * (../bidi-stream.ts: concurrency, cancellation, backpressure, the per-stream pending cap). Each
 * answer carries its request's id; a failed request is answered with an `InferError` (domain code,
 * message, details as JSON) and the stream goes on.
 */
import type { handleBidiStreamingCall } from "@grpc/grpc-js";
import { ModelMoraError } from "../../../errors.ts";
import type { InferenceService } from "../../../inference/service.ts";
import type { Logger } from "../../../observability/logger.ts";
import { redactForClient } from "../../../security/redact.ts";
import { serveBidiStream } from "../bidi-stream.ts";
import type { CallContext } from "../call-context.ts";
import { logUnexpected } from "../unary.ts";
import { type InferRequestMessage, type InferResponseMessage, isRawRequest, toInferenceRequest, toInferResponse } from "./infer-request.ts";

export interface InferStreamResponseMessage {
  id: string;
  response?: InferResponseMessage;
  error?: { code: string; message: string; details_json: string };
}

export function inferStream(inference: InferenceService, logger: Logger, maxPendingPerStream: number): handleBidiStreamingCall<InferRequestMessage, InferStreamResponseMessage> {
  return (call) => {
    const method = call.getPath();
    const answer = async (message: InferRequestMessage, context: CallContext): Promise<InferStreamResponseMessage> => {
      try {
        const response = await inference.inferTensors(toInferenceRequest(message, context));
        return { id: message.id, response: toInferResponse(response, isRawRequest(message)) };
      } catch (error) {
        logUnexpected(logger, method, error);
        return { id: message.id, error: errorMessage(error) };
      }
    };
    serveBidiStream(call, { answer, maxPendingPerStream, logger });
  };
}

/** A failure as InferStream's per-request `InferError` message, redacted as every answer is; anything but a ModelMoraError is INTERNAL. */
function errorMessage(error: unknown): { code: string; message: string; details_json: string } {
  const domain = error instanceof ModelMoraError ? redactForClient(error) : new ModelMoraError("INTERNAL", "internal error");
  return { code: domain.code, message: domain.message, details_json: domain.details ? JSON.stringify(domain.details) : "" };
}
