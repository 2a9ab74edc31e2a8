/**
 * The text form of `POST /api/v1/infer/{name}` for txt2embed models: `{ "input": "text" | [...] }`
 * (also `text` / `texts`, as DESIGN §10 names them) → `{ "embeddings", "dimensions", "usage" }`.
 * infer.ts routes a body here when it carries text instead of KServe `inputs`.
 */
import { t } from "elysia";
import { invalidInput } from "../../errors.ts";
import type { InferenceService } from "../../inference/service.ts";
import { embed } from "../../inference/tasks/txt2embed.ts";
import type { Turn } from "../../inference/admission-gate.ts";
import { type ControlParameters, requestControls } from "./request-controls.ts";
import { embeddingAnswer } from "../../inference/jobs/execute-job.ts";

const textOrTexts = t.Union([t.String(), t.Array(t.String())]);

/** The answer to a text body. */
export const TextInferResponseModel = t.Object({
  model_name: t.String(),
  model_version: t.String(),
  embeddings: t.Array(t.Array(t.Number())),
  dimensions: t.Integer(),
  usage: t.Object({ tokens: t.Integer() }),
});

/** Fields a text body may have, beside the KServe ones. */
export const textInferFields = {
  input: t.Optional(textOrTexts),
  text: t.Optional(t.String()),
  texts: t.Optional(t.Array(t.String())),
  normalize: t.Optional(t.Boolean({ description: "txt2embed: L2-normalise (default: the model's config, else true)" })),
  truncate: t.Optional(t.Boolean({ description: "txt2embed: cut texts over the model's maximum (default true) or refuse them" })),
  dimensions: t.Optional(t.Integer({ minimum: 1, description: "txt2embed: keep the first N dimensions" })),
};

interface TextBody {
  input?: string | string[];
  text?: string;
  texts?: string[];
  normalize?: boolean;
  truncate?: boolean;
  dimensions?: number;
  inputs?: unknown;
  parameters?: ControlParameters;
}

/** The texts of a text body and the field they came from; undefined for a tensor body. */
export function textsOf(body: TextBody): { texts: string[]; field: string } | undefined {
  const given = (["input", "text", "texts"] as const).filter((key) => body[key] !== undefined);
  if (given.length === 0) return undefined;
  if (given.length > 1 || body.inputs !== undefined) {
    const fields = [...given, ...(body.inputs !== undefined ? ["inputs"] : [])];
    throw invalidInput(`send one of input, text, texts or inputs, not ${fields.join(" and ")}`, { field: fields[1]! });
  }
  const field = given[0]!;
  const value = body[field]!;
  return { texts: typeof value === "string" ? [value] : value, field };
}

/** Runs a text body against a txt2embed model and shapes the answer. */
export async function inferText(
  inference: InferenceService,
  call: { model: string; version: string | undefined; body: TextBody; texts: { texts: string[]; field: string }; headers: Record<string, string | undefined>; request: Request; turn?: Turn },
) {
  const { body, headers } = call;
  const result = await embed(inference, {
    model: call.model,
    version: call.version,
    texts: call.texts.texts,
    field: call.texts.field,
    normalize: body.normalize,
    truncate: body.truncate,
    dimensions: body.dimensions,
    ...requestControls(body.parameters, headers, call.request),
    turn: call.turn,
  });
  return embeddingAnswer(result);
}
