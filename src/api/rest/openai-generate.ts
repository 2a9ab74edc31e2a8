/**
 * OpenAI-compatible generation: `POST /v1/chat/completions` (messages rendered with the model's chat
 * template) and `POST /v1/completions` (a prompt as is), with and without `stream` (SSE
 * `data: {chunk}` frames, then `data: [DONE]`), with `usage` (in the last chunk too when
 * `stream_options.include_usage`). Errors come in OpenAI's shape (openai-errors.ts).
 *
 * As OpenAI: `temperature` defaults to 1 (sampling), `max_tokens` / `max_completion_tokens` bound
 * the answer, `stop` is a string or a list, `seed` makes sampling reproducible, `n` must be 1.
 * Beyond OpenAI (as vLLM takes them): `top_k`, `repetition_penalty`.
 *
 * @example
 * const client = new OpenAI({ baseURL: "http://127.0.0.1:8080/v1", apiKey: "unused" });
 * const stream = await client.chat.completions.create({ model: "tiny-lm", messages, stream: true });
 */
import { randomUUID } from "node:crypto";
import { Elysia } from "elysia";
import { type ModelMoraError, invalidInput } from "../../errors.ts";
import type { ChatMessage } from "../../inference/generation/chat-template.ts";
import type { GenerateRequest, GenerationResult, GenerationService } from "../../inference/generation/service.ts";
import { parsePriority } from "../../inference/priority.ts";
import type { Logger } from "../../observability/logger.ts";
import { redactForClient } from "../../security/redact.ts";
import { generationEventStream, sseFrame } from "./generation-stream.ts";
import { inOpenAiDialect } from "./openai-errors.ts";

type Kind = "chat" | "completion";

interface ParsedBody {
  request: Omit<GenerateRequest, "signal" | "priority">;
  stream: boolean;
  includeUsage: boolean;
}

/** The body of a chat or completions call, checked; INVALID_INPUT naming the field otherwise. */
export function parseGenerationBody(text: string, kind: Kind): ParsedBody {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw invalidInput("request body is not valid JSON", { field: "body" });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidInput("request body must be a JSON object", { field: "body" });
  const number = (field: string): number | undefined => {
    const value = body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) throw invalidInput(`${field}: must be a number`, { field });
    return value;
  };
  const { model, stop, stream = false, n = 1 } = body;
  if (typeof model !== "string" || model === "") throw invalidInput("model: required, the name of a txt2txt model", { field: "model" });
  if (n !== 1) throw invalidInput("n: only 1 is supported", { field: "n" });
  if (typeof stream !== "boolean") throw invalidInput("stream: must be a boolean", { field: "stream" });
  if (stop !== undefined && stop !== null && typeof stop !== "string" && !(Array.isArray(stop) && stop.every((entry) => typeof entry === "string"))) {
    throw invalidInput("stop: a string or a list of strings", { field: "stop" });
  }
  const request: ParsedBody["request"] = {
    model,
    maxNewTokens: number("max_completion_tokens") ?? number("max_tokens"),
    temperature: number("temperature") ?? 1,
    topP: number("top_p"),
    topK: number("top_k"),
    repetitionPenalty: number("repetition_penalty"),
    seed: number("seed"),
    stop: typeof stop === "string" ? [stop] : (stop as string[] | undefined | null) ?? undefined,
  };
  if (kind === "chat") {
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) throw invalidInput("messages: a non-empty list of { role, content }", { field: "messages" });
    request.messages = messages.map((message: unknown, index): ChatMessage => {
      const { role, content } = (message ?? {}) as Record<string, unknown>;
      const text = typeof content === "string" ? content : Array.isArray(content) ? textParts(content, index) : undefined;
      if (typeof role !== "string" || text === undefined) throw invalidInput(`messages[${index}]: needs a role and text content`, { field: `messages[${index}]` });
      return { role, content: text };
    });
  } else {
    const prompt = body.prompt;
    if (typeof prompt !== "string") throw invalidInput("prompt: a string (one prompt per request)", { field: "prompt" });
    request.prompt = prompt;
  }
  const options = body.stream_options as { include_usage?: unknown } | undefined | null;
  return { request, stream, includeUsage: options?.include_usage === true };
}

/** OpenAI's content parts: the text parts joined. */
function textParts(parts: unknown[], index: number): string {
  return parts
    .map((part) => {
      const { type, text } = (part ?? {}) as Record<string, unknown>;
      if (type !== "text" || typeof text !== "string") throw invalidInput(`messages[${index}].content: only text parts are supported`, { field: `messages[${index}].content` });
      return text;
    })
    .join("");
}

function usageOf(result: GenerationResult) {
  return { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens };
}

/** OpenAI knows `stop` and `length`; a cancelled sequence has nobody left to read it, `stop` stands in. */
function openAiFinishReason(result: GenerationResult): "stop" | "length" {
  return result.finishReason === "length" ? "length" : "stop";
}

function handler(kind: Kind, generation: GenerationService, logger: Logger) {
  return ({ body, headers, request }: { body: unknown; headers: Record<string, string | undefined>; request: Request }) =>
    inOpenAiDialect(logger, request, async () => {
      const parsed = parseGenerationBody(typeof body === "string" ? body : JSON.stringify(body), kind);
      const generateRequest = { ...parsed.request, priority: parsePriority(headers["x-priority"], "x-priority") };
      const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
      const created = Math.floor(Date.now() / 1000);
      const object = kind === "chat" ? "chat.completion" : "text_completion";
      if (!parsed.stream) {
        const result = await generation.generate({ ...generateRequest, signal: request.signal });
        const choice =
          kind === "chat"
            ? { index: 0, message: { role: "assistant", content: result.text }, logprobs: null, finish_reason: openAiFinishReason(result) }
            : { index: 0, text: result.text, logprobs: null, finish_reason: openAiFinishReason(result) };
        return { id, object, created, model: result.model, choices: [choice], usage: usageOf(result) };
      }
      const chunkObject = kind === "chat" ? "chat.completion.chunk" : "text_completion";
      const model = parsed.request.model;
      const frame = (choices: unknown[], extra: Record<string, unknown> = {}) => sseFrame({ id, object: chunkObject, created, model, choices, ...extra });
      let first = true;
      return generationEventStream(generation, generateRequest, request.signal, {
        chunk: (chunk) => {
          const frames: string[] = [];
          if (kind === "chat" && first) frames.push(frame([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]));
          first = false;
          if (chunk.text !== "") {
            frames.push(frame([kind === "chat" ? { index: 0, delta: { content: chunk.text }, logprobs: null, finish_reason: null } : { index: 0, text: chunk.text, logprobs: null, finish_reason: null }]));
          }
          return frames;
        },
        end: (result) => [
          frame([kind === "chat" ? { index: 0, delta: {}, logprobs: null, finish_reason: openAiFinishReason(result) } : { index: 0, text: "", logprobs: null, finish_reason: openAiFinishReason(result) }]),
          ...(parsed.includeUsage ? [frame([], { usage: usageOf(result) })] : []),
          sseFrame("[DONE]"),
        ],
        error: (error: ModelMoraError) => {
          const redacted = redactForClient(error);
          return [sseFrame({ error: { message: redacted.message, type: "server_error", param: null, code: redacted.code.toLowerCase() } }), sseFrame("[DONE]")];
        },
      });
    });
}

export function openAiGenerationPlugin(generation: GenerationService, logger: Logger) {
  return new Elysia({ name: "openai-generation", detail: { tags: ["openai"] } })
    .post("/v1/chat/completions", handler("chat", generation, logger), { parse: "text", detail: { summary: "OpenAI-compatible chat completions (txt2txt models)" } })
    .post("/v1/completions", handler("completion", generation, logger), { parse: "text", detail: { summary: "OpenAI-compatible completions (txt2txt models)" } });
}
