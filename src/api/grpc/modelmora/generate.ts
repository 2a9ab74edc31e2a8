/**
 * modelmora.v1 InferenceService/Generate: server-streaming text generation. One GenerateResponse
 * per decoding step (the tokens and text it added), the last with `finish_reason` and usage. The
 * call's cancellation (and its gRPC deadline) cancels the sequence within one step; `timeout_ms`
 * ends it with finish_reason "length" and the text so far. Errors before the first token end the call with the mapped
 * gRPC status (NOT_FOUND, INVALID_ARGUMENT …); so do errors after it.
 */
import type { handleServerStreamingCall } from "@grpc/grpc-js";
import { ModelMoraError, invalidInput } from "../../../errors.ts";
import type { GenerationService } from "../../../inference/generation/service.ts";
import { parsePriority } from "../../../inference/priority.ts";
import type { Logger } from "../../../observability/logger.ts";
import { callContext } from "../call-context.ts";
import { reportError } from "../unary.ts";

/** GenerateRequest as proto-loader decodes it (keepCase, defaults on; unset optionals absent). */
export interface GenerateRequestMessage {
  model: string;
  version: string;
  prompt: string;
  messages: { role: string; content: string }[];
  max_new_tokens: number;
  temperature?: number;
  top_k: number;
  top_p?: number;
  repetition_penalty?: number;
  seed?: number;
  stop: string[];
  priority: number;
  timeout_ms: number;
  keep_alive_seconds?: number;
}

export interface GenerateResponseMessage {
  text: string;
  token_ids: number[];
  finish_reason: string;
  prompt_tokens: number;
  completion_tokens: number;
  model_name: string;
  model_version: string;
}

export function generateHandler(generation: GenerationService | undefined, logger: Logger): handleServerStreamingCall<GenerateRequestMessage, GenerateResponseMessage> {
  return (call) => {
    const run = async () => {
      if (!generation) throw new ModelMoraError("INTERNAL", "generation is not available on this server (this is a bug)");
      const message = call.request;
      if (message.model === "") throw invalidInput("model: required", { field: "model" });
      const context = callContext(call);
      // timeout_ms ends the sequence with "length"; the call's own gRPC deadline is grpc-js's to
      // report (DEADLINE_EXCEEDED), and it cancels the sequence through the call's signal.
      const result = await generation.generate(
        {
          model: message.model,
          ...(message.version !== "" && { version: message.version }),
          ...(message.messages.length > 0 ? { messages: message.messages } : { prompt: message.prompt }),
          ...(message.max_new_tokens > 0 && { maxNewTokens: message.max_new_tokens }),
          temperature: message.temperature,
          ...(message.top_k > 0 && { topK: message.top_k }),
          topP: message.top_p,
          repetitionPenalty: message.repetition_penalty,
          seed: message.seed,
          stop: message.stop,
          priority: message.priority === 0 ? context.priority : parsePriority(message.priority, "priority"),
          ...(message.timeout_ms > 0 && { timeoutMicroseconds: message.timeout_ms * 1000 }),
          keepAliveSeconds: message.keep_alive_seconds,
          signal: context.signal,
        },
        (chunk) => {
          if (!call.cancelled) call.write({ text: chunk.text, token_ids: chunk.tokenIds, finish_reason: "", prompt_tokens: 0, completion_tokens: 0, model_name: "", model_version: "" });
        },
      );
      if (call.cancelled) return;
      call.write({
        text: "",
        token_ids: [],
        finish_reason: result.finishReason,
        prompt_tokens: result.promptTokens,
        completion_tokens: result.completionTokens,
        model_name: result.model,
        model_version: result.version,
      });
      call.end();
    };
    run().catch((error: unknown) => {
      if (!call.cancelled) call.emit("error", reportError(logger, call.getPath(), error));
    });
  };
}
