/**
 * `POST /api/v1/generate/{name}`: text generation with a txt2txt model.
 * Body: `{ prompt | messages, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed,
 * stop, stream, timeout_ms, priority }`. Without `stream`: one JSON answer. With `"stream": true`:
 * Server-Sent Events — `event: token` frames `{ text, token_ids }` as tokens come, then one
 * `event: done` frame `{ finish_reason, text, token_ids, usage }` (or `event: error`).
 *
 * @example
 * curl -N localhost:8080/api/v1/generate/tiny-lm -d '{"prompt":"Hello","max_new_tokens":16,"stream":true}'
 */
import { Elysia, t } from "elysia";
import type { ModelMoraError } from "../../errors.ts";
import { redactForClient } from "../../security/redact.ts";
import type { GenerateRequest, GenerationResult, GenerationService } from "../../inference/generation/service.ts";
import { parsePriority } from "../../inference/priority.ts";
import { errorResponseDocs } from "./error-responses.ts";
import { generationEventStream, sseFrame } from "./generation-stream.ts";

const GenerateBody = t.Object(
  {
    prompt: t.Optional(t.String()),
    messages: t.Optional(t.Array(t.Object({ role: t.String(), content: t.String() }))),
    max_new_tokens: t.Optional(t.Integer({ minimum: 1 })),
    temperature: t.Optional(t.Number({ minimum: 0, description: "0 (default) = greedy" })),
    top_k: t.Optional(t.Integer({ minimum: 0 })),
    top_p: t.Optional(t.Number({ exclusiveMinimum: 0, maximum: 1 })),
    repetition_penalty: t.Optional(t.Number({ exclusiveMinimum: 0 })),
    seed: t.Optional(t.Integer()),
    stop: t.Optional(t.Union([t.String(), t.Array(t.String())])),
    stream: t.Optional(t.Boolean()),
    timeout_ms: t.Optional(t.Number({ exclusiveMinimum: 0, description: "deadline; a sequence still decoding then ends with finish_reason length" })),
    keep_alive_seconds: t.Optional(t.Integer({ minimum: -1 })),
    priority: t.Optional(t.Union([t.Integer({ minimum: 1, maximum: 4 }), t.String()])),
    version: t.Optional(t.String()),
  },
  { additionalProperties: false },
);
type GenerateBodyType = typeof GenerateBody.static;

function requestOf(name: string, body: GenerateBodyType, headers: Record<string, string | undefined>): Omit<GenerateRequest, "signal"> {
  return {
    model: name,
    version: body.version,
    prompt: body.prompt,
    messages: body.messages,
    maxNewTokens: body.max_new_tokens,
    temperature: body.temperature,
    topK: body.top_k,
    topP: body.top_p,
    repetitionPenalty: body.repetition_penalty,
    seed: body.seed,
    stop: typeof body.stop === "string" ? [body.stop] : body.stop,
    priority: parsePriority(body.priority ?? headers["x-priority"], body.priority !== undefined ? "priority" : "x-priority"),
    timeoutMicroseconds: body.timeout_ms === undefined ? undefined : Math.round(body.timeout_ms * 1000),
    keepAliveSeconds: body.keep_alive_seconds,
  };
}

function answer(result: GenerationResult) {
  return {
    model_name: result.model,
    model_version: result.version,
    text: result.text,
    token_ids: result.tokenIds,
    finish_reason: result.finishReason,
    usage: { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens },
  };
}

/** An error after the stream started, in the REST error body's shape. */
function errorFrame(raw: ModelMoraError) {
  const error = redactForClient(raw);
  return { error: error.message, code: error.code, ...(error.details && { details: error.details }) };
}

export function generatePlugin(generation: GenerationService) {
  return new Elysia({ name: "generate", detail: { tags: ["inference"] } }).post(
    "/api/v1/generate/:name",
    async ({ params, body, headers, request }) => {
      const generateRequest = requestOf(params.name, body, headers);
      if (!body.stream) return answer(await generation.generate({ ...generateRequest, signal: request.signal }));
      return generationEventStream(generation, generateRequest, request.signal, {
        chunk: (chunk) => [sseFrame({ text: chunk.text, token_ids: chunk.tokenIds }, "token")],
        end: (result) => [sseFrame(answer(result), "done")],
        error: (error) => [sseFrame(errorFrame(error), "error")],
      });
    },
    { body: GenerateBody, detail: { summary: "Generate text (txt2txt); SSE with stream: true", responses: errorResponseDocs("generate") } },
  );
}
