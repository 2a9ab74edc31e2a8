/**
 * txt2embed on the server side: turns texts into a task request for the model's worker (which
 * tokenises, runs and pools a whole batch, see workers/tasks/txt2embed.ts), then applies what is per
 * request: cutting to fewer `dimensions` (Matryoshka style, before normalising) and L2 normalisation.
 * Every front end (own REST, OpenAI, TEI) calls `embed` / `tokenize`; none builds task tensors itself.
 */
import { invalidInput } from "../../errors.ts";
import type { ResolvedVersion } from "../../registry/registry.ts";
import { TASK_TENSOR, type Txt2EmbedSettings, type WireTensor } from "../../../workers/protocol.ts";
import type { InferenceService, PreparedRequest } from "../service.ts";
import { controlsOf, type RequestControls } from "../requests.ts";

/** Most texts one request may carry (OpenAI's limit for one embeddings call). */
export const MAX_TEXTS_PER_REQUEST = 2048;

/** Companion files the worker reads for txt2embed. */
const TEXT_FILES = ["tokenizer.json", "tokenizer_config.json", "1_Pooling/config.json"];

export interface TextRequest extends RequestControls {
  /** The texts; or, with `pretokenized`, token-id arrays (used as given, no special tokens added). */
  texts: string[] | number[][];
  /** Cut texts over the model's maximum (default) or refuse the request. */
  truncate?: boolean;
  /** The request field the texts came from, for error messages. */
  field?: string;
}

export interface EmbedRequest extends TextRequest {
  /** L2-normalise; the model's config `normalize` (default true) when absent. */
  normalize?: boolean;
  /** Keep only the first N dimensions (then normalise). */
  dimensions?: number;
}

export interface EmbedResult {
  model: string;
  version: string;
  embeddings: Float32Array[];
  dimensions: number;
  /** Tokens per text, after truncation. */
  tokens: number[];
}

export interface TokenizeRequest extends TextRequest {
  /** Add the tokenizer's special tokens ([CLS], [SEP]); default true. */
  addSpecialTokens?: boolean;
}

export interface TokenizeResult {
  model: string;
  version: string;
  /** Per text, its tokens in order. */
  tokens: { id: number; text: string; special: boolean }[][];
}

/**
 * Embeds `texts` with a txt2embed model.
 *
 * @example
 * const { embeddings, dimensions } = await embed(inference, { model: "minilm", texts: ["hello"], priority: 3 });
 */
export async function embed(inference: InferenceService, request: EmbedRequest): Promise<EmbedResult> {
  const { target, outputs } = await inference.runPrepared(prepared(request, "embed"));
  throwItemError(outputs, request.field);
  const vectors = outputs.find((output) => output.name === "embeddings");
  const tokens = outputs.find((output) => output.name === "tokens");
  if (!vectors || !tokens) throw new Error("txt2embed answer without embeddings or tokens (this is a bug)");
  const [count, modelDimensions] = vectors.shape as [number, number];
  const dimensions = request.dimensions ?? modelDimensions;
  if (dimensions > modelDimensions) {
    throw invalidInput(`dimensions: the model gives ${modelDimensions} dimensions; ask for at most that many`, { field: "dimensions" });
  }
  const normalize = request.normalize ?? target.config.normalize ?? true;
  const data = vectors.data as Float32Array;
  const embeddings = Array.from({ length: count }, (_, row) => {
    const vector = data.slice(row * modelDimensions, row * modelDimensions + dimensions);
    return normalize ? l2Normalized(vector) : vector;
  });
  return { model: target.name, version: target.version, embeddings, dimensions, tokens: Array.from(tokens.data as Int32Array) };
}

/** The token ids the model's tokenizer gives each text (special tokens included, truncated as embed would). */
export async function tokenize(inference: InferenceService, request: TokenizeRequest): Promise<TokenizeResult> {
  const { target, outputs } = await inference.runPrepared(prepared(request, "tokenize"));
  throwItemError(outputs, request.field);
  const output = (name: string) => outputs.find((tensor) => tensor.name === name)!.data;
  const ids = output("ids") as Int32Array;
  const texts = output("tokens") as string[];
  const special = output("special") as Uint8Array;
  let start = 0;
  const tokens = Array.from(output("lengths") as Int32Array, (length) => {
    const positions = Array.from({ length }, (_, index) => start + index);
    start += length;
    return positions.map((position) => ({ id: ids[position]!, text: texts[position]!, special: special[position] === 1 }));
  });
  return { model: target.name, version: target.version, tokens };
}

function prepared(request: TokenizeRequest, op: Txt2EmbedSettings["op"]): PreparedRequest {
  const field = request.field ?? "texts";
  if (request.texts.length === 0) throw invalidInput(`${field}: send at least one text`, { field });
  if (request.texts.length > MAX_TEXTS_PER_REQUEST) throw invalidInput(`${field}: at most ${MAX_TEXTS_PER_REQUEST} texts per request`, { field });
  const pretokenized = request.texts.every((text) => Array.isArray(text));
  request.texts.forEach((text, index) => {
    if (typeof text !== "string" && !pretokenized) throw invalidInput(`${field}[${index}]: must be a string (or every entry a list of token ids)`, { field: `${field}[${index}]` });
  });
  const texts = pretokenized ? request.texts.map((ids) => JSON.stringify(ids)) : (request.texts as string[]);
  return {
    ...controlsOf(request),
    prepare: (target) => {
      const settings: Txt2EmbedSettings = {
        ...settingsFor(target, op, request.truncate ?? true),
        ...(pretokenized && { pretokenized }),
        ...(request.addSpecialTokens === false && { addSpecialTokens: false }),
      };
      const inputs: WireTensor[] = [
        { name: TASK_TENSOR, datatype: "BYTES", shape: [1], data: [JSON.stringify(settings)] },
        { name: "text", datatype: "BYTES", shape: [texts.length], data: texts },
      ];
      return { inputs, rows: request.texts.length, signature: `txt2embed:${op}` };
    },
  };
}

function settingsFor(target: ResolvedVersion, op: Txt2EmbedSettings["op"], truncate: boolean): Txt2EmbedSettings {
  if (target.task !== "txt2embed") {
    throw invalidInput(`model "${target.name}" has task "${target.task}", not txt2embed; send it what its task takes`, { field: "model", task: target.task });
  }
  const files = Object.fromEntries(Object.entries(target.files).filter(([name]) => TEXT_FILES.includes(name)));
  const { pooling, maxSequenceLength } = target.config;
  return { task: "txt2embed", op, files, truncate, ...(pooling && { pooling }), ...(maxSequenceLength && { maxSequenceLength }) };
}

/** A request the worker refused on its own (a text too long with truncate: false) is INVALID_INPUT. */
function throwItemError(outputs: WireTensor[], field = "texts"): void {
  const error = outputs.find((output) => output.name === "error");
  if (error) throw invalidInput(`${field}: ${(error.data as string[])[0]}`, { field });
}

/** `vector` scaled to unit length (a zero vector stays zero). */
export function l2Normalized(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const value of vector) sum += value * value;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let index = 0; index < vector.length; index++) vector[index]! /= norm;
  return vector;
}
