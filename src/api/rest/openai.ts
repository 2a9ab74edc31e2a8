/**
 * OpenAI-compatible routes, so the OpenAI SDKs work unchanged: `POST /v1/embeddings` for txt2embed
 * models and `GET /v1/models`. Errors come in OpenAI's shape (openai-errors.ts). Bodies are read as
 * text and checked here, for the same reason.
 *
 * @example
 * const client = new OpenAI({ baseURL: "http://127.0.0.1:8080/v1", apiKey: "unused" });
 * const { data } = await client.embeddings.create({ model: "minilm", input: ["hello", "world"] });
 */
import { Elysia } from "elysia";
import { invalidInput } from "../../errors.ts";
import { parseJsonObject } from "../json-object.ts";
import type { ModelsService } from "../../inference/models-service.ts";
import { parsePriority } from "../../inference/priority.ts";
import type { InferenceService } from "../../inference/service.ts";
import { embed } from "../../inference/tasks/txt2embed.ts";
import type { Logger } from "../../observability/logger.ts";
import { inOpenAiDialect } from "./openai-errors.ts";

interface EmbeddingsBody {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format: "float" | "base64";
  dimensions: number | undefined;
}

/** The body of POST /v1/embeddings, checked; INVALID_INPUT naming the field otherwise. */
export function parseEmbeddingsBody(text: string): EmbeddingsBody {
  const { model, input, encoding_format: encodingFormat = "float", dimensions } = parseJsonObject(text, "request body", "body");
  if (typeof model !== "string" || model === "") throw invalidInput("model: required, the name of a txt2embed model", { field: "model" });
  const isIds = (value: unknown) => Array.isArray(value) && value.every((id) => Number.isInteger(id));
  const validInput =
    typeof input === "string" ||
    (Array.isArray(input) && input.length > 0 && (input.every((entry) => typeof entry === "string") || isIds(input) || input.every(isIds)));
  if (!validInput) throw invalidInput("input: a string, an array of strings, an array of token ids, or an array of such arrays", { field: "input" });
  if (encodingFormat !== "float" && encodingFormat !== "base64") throw invalidInput('encoding_format: "float" or "base64"', { field: "encoding_format" });
  if (dimensions !== undefined && (!Number.isInteger(dimensions) || (dimensions as number) < 1)) {
    throw invalidInput("dimensions: a positive integer", { field: "dimensions" });
  }
  return { model, input: input as EmbeddingsBody["input"], encoding_format: encodingFormat, dimensions: dimensions as number | undefined };
}

/** `input` as a list: strings, or token-id arrays. */
function inputList(input: EmbeddingsBody["input"]): string[] | number[][] {
  if (typeof input === "string") return [input];
  if (input.every((entry) => typeof entry === "number")) return [input as number[]];
  return input as string[] | number[][];
}

/** A vector as OpenAI's base64: the little-endian float32 bytes. */
function base64Of(vector: Float32Array): string {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64");
}

export function openAiPlugin(models: ModelsService, inference: InferenceService, logger: Logger) {
  return new Elysia({ name: "openai", detail: { tags: ["openai"] } })
    .post(
      "/v1/embeddings",
      ({ body, headers, request }) =>
        inOpenAiDialect(logger, request, async () => {
          const parsed = parseEmbeddingsBody(typeof body === "string" ? body : JSON.stringify(body));
          const result = await embed(inference, {
            model: parsed.model,
            texts: inputList(parsed.input),
            field: "input",
            dimensions: parsed.dimensions,
            priority: parsePriority(headers["x-priority"], "x-priority"),
            signal: request.signal,
          });
          const tokens = result.tokens.reduce((total, count) => total + count, 0);
          return {
            object: "list",
            data: result.embeddings.map((vector, index) => ({
              object: "embedding",
              index,
              embedding: parsed.encoding_format === "base64" ? base64Of(vector) : Array.from(vector),
            })),
            model: result.model,
            usage: { prompt_tokens: tokens, total_tokens: tokens },
          };
        }),
      { parse: "text", detail: { summary: "OpenAI-compatible embeddings (txt2embed models)" } },
    )
    .get(
      "/v1/models",
      ({ request }) =>
        inOpenAiDialect(logger, request, async () => ({
          object: "list",
          data: (await models.list()).map((model) => ({
            id: model.name,
            object: "model",
            created: Math.floor(Date.parse(model.createdAt) / 1000),
            owned_by: "modelmora",
          })),
        })),
      { detail: { summary: "OpenAI-compatible model list" } },
    );
}
