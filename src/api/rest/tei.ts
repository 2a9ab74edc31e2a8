/**
 * Hugging Face text-embeddings-inference (TEI) routes, so TEI clients switch without changes:
 * `POST /embed` (`inputs`, `normalize` default true, `truncate` default false, `dimensions`) →
 * `[[…], …]`, and `POST /tokenize` (`inputs`, `add_special_tokens`) → `[[{ id, text, special,
 * start, stop }]]` (`start`/`stop` are null: the tokenizer library gives no offsets). TEI serves one
 * model; here the model is `?model=` (or a `model` body field), else the only txt2embed model.
 * Errors come in TEI's shape, `{ error, error_type }`, with TEI's statuses (413 validation,
 * 429 overloaded, 424 backend, 503 unhealthy, 400 empty).
 */
import { Elysia } from "elysia";
import { type ErrorCode, ModelMoraError, invalidInput } from "../../errors.ts";
import { parseJsonObject } from "../json-object.ts";
import type { ModelsService } from "../../inference/models-service.ts";
import { parsePriority } from "../../inference/priority.ts";
import type { InferenceService } from "../../inference/service.ts";
import { embed, tokenize } from "../../inference/tasks/txt2embed.ts";
import type { Logger } from "../../observability/logger.ts";
import { HTTP_STATUS } from "./error-mapping.ts";
import { inDialect } from "./dialect-errors.ts";

type TeiErrorType = "validation" | "overloaded" | "backend" | "unhealthy" | "empty" | "tokenizer";

const TEI_ERRORS: Partial<Record<ErrorCode, [number, TeiErrorType]>> = {
  INVALID_INPUT: [413, "validation"],
  QUEUE_FULL: [429, "overloaded"],
  INFERENCE_FAILED: [424, "backend"],
  MODEL_LOAD_FAILED: [424, "backend"],
  OUTPUT_TOO_LARGE: [424, "backend"],
  UNHEALTHY_MODEL: [503, "unhealthy"],
  INSUFFICIENT_MEMORY: [503, "unhealthy"],
  SHUTTING_DOWN: [503, "unhealthy"],
};

function teiErrorResponse(error: ModelMoraError): Response {
  const status = error.details?.reason === "empty" ? 400 : (TEI_ERRORS[error.code]?.[0] ?? HTTP_STATUS[error.code]);
  const type = error.details?.reason === "empty" ? "empty" : (TEI_ERRORS[error.code]?.[1] ?? (status >= 500 ? "backend" : "validation"));
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (status === 429 || status === 503) headers["retry-after"] = "1";
  return new Response(JSON.stringify({ error: error.message, error_type: type }), { status, headers });
}

function inTeiDialect(logger: Logger, request: Request, work: () => Promise<unknown>): Promise<unknown> {
  return inDialect(teiErrorResponse, logger, request, work);
}

interface TeiBody {
  inputs: string[] | number[][];
  model: string | undefined;
  normalize: boolean | undefined;
  truncate: boolean | undefined;
  dimensions: number | undefined;
  addSpecialTokens: boolean | undefined;
}

/** The body of /embed or /tokenize, checked; INVALID_INPUT naming the field otherwise. */
function parseTeiBody(text: string): TeiBody {
  const body = parseJsonObject(text, "request body", "body");
  const { inputs } = body;
  const isIds = (value: unknown) => Array.isArray(value) && value.length > 0 && value.every((id) => Number.isInteger(id));
  if (Array.isArray(inputs) && inputs.length === 0) throw invalidInput("`inputs` cannot be empty", { field: "inputs", reason: "empty" });
  let list: string[] | number[][];
  if (typeof inputs === "string") list = [inputs];
  else if (isIds(inputs)) list = [inputs as number[]];
  else if (Array.isArray(inputs) && (inputs.every((entry) => typeof entry === "string") || inputs.every(isIds))) list = inputs as string[] | number[][];
  else throw invalidInput("inputs: a string, an array of strings, or token ids", { field: "inputs" });
  const flag = (key: string): boolean | undefined => {
    if (body[key] === undefined || body[key] === null) return undefined;
    if (typeof body[key] !== "boolean") throw invalidInput(`${key}: true or false`, { field: key });
    return body[key] as boolean;
  };
  const { dimensions, model } = body;
  if (dimensions !== undefined && dimensions !== null && (!Number.isInteger(dimensions) || (dimensions as number) < 1)) {
    throw invalidInput("dimensions: a positive integer", { field: "dimensions" });
  }
  if (model !== undefined && typeof model !== "string") throw invalidInput("model: the name of a txt2embed model", { field: "model" });
  return {
    inputs: list,
    model,
    normalize: flag("normalize"),
    truncate: flag("truncate"),
    dimensions: (dimensions ?? undefined) as number | undefined,
    addSpecialTokens: flag("add_special_tokens"),
  };
}

export function teiPlugin(models: ModelsService, inference: InferenceService, logger: Logger) {
  /** The named model, or the only txt2embed model there is. */
  const modelFor = async (request: Request, body: TeiBody): Promise<string> => {
    const named = new URL(request.url).searchParams.get("model") ?? body.model;
    if (named) return named;
    const candidates = await models.list({ task: "txt2embed" });
    if (candidates.length === 1) return candidates[0]!.name;
    throw invalidInput(
      candidates.length === 0 ? "no txt2embed model is registered" : `${candidates.length} txt2embed models are registered; name one with ?model=`,
      { field: "model" },
    );
  };
  const common = (request: Request, headers: Record<string, string | undefined>) => ({
    field: "inputs",
    priority: parsePriority(headers["x-priority"], "x-priority"),
    signal: request.signal,
  });
  return new Elysia({ name: "tei", detail: { tags: ["tei"] } })
    .post(
      "/embed",
      ({ body, headers, request }) =>
        inTeiDialect(logger, request, async () => {
          const parsed = parseTeiBody(String(body));
          const result = await embed(inference, {
            model: await modelFor(request, parsed),
            texts: parsed.inputs,
            normalize: parsed.normalize ?? true,
            truncate: parsed.truncate ?? false,
            dimensions: parsed.dimensions,
            ...common(request, headers),
          });
          return result.embeddings.map((vector) => Array.from(vector));
        }),
      { parse: "text", detail: { summary: "TEI-compatible embeddings (txt2embed models)" } },
    )
    .post(
      "/tokenize",
      ({ body, headers, request }) =>
        inTeiDialect(logger, request, async () => {
          const parsed = parseTeiBody(String(body));
          const result = await tokenize(inference, {
            model: await modelFor(request, parsed),
            texts: parsed.inputs,
            addSpecialTokens: parsed.addSpecialTokens ?? true,
            ...common(request, headers),
          });
          return result.tokens.map((tokens) => tokens.map((token) => ({ ...token, start: null, stop: null })));
        }),
      { parse: "text", detail: { summary: "TEI-compatible tokenisation with the model's tokenizer.json" } },
    );
}
