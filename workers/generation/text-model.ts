/**
 * What a txt2txt worker reads besides the ONNX model: tokenizer.json (+ tokenizer_config.json) and
 * generation_config.json (end-of-sequence ids), each checked against its sha256 once per worker, and
 * the decoder's cache geometry read from the session's `past_key_values.{i}.key/value` inputs.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import type * as ort from "onnxruntime-node";
import type { GenerateSettings } from "../protocol.ts";
import type { CacheGeometry } from "./kv-batch.ts";

export interface GenerationTextModel {
  tokenizer: Tokenizer;
  eosTokenIds: number[];
  /** Longest prompt + generation (tokenizer_config.json model_max_length), when it says. */
  maxSequenceLength: number | undefined;
}

const textModels = new Map<string, Promise<GenerationTextModel>>();

export function generationTextModel(files: GenerateSettings["files"]): Promise<GenerationTextModel> {
  const key = JSON.stringify(files);
  let model = textModels.get(key);
  if (!model) {
    model = readTextModel(files);
    textModels.set(key, model);
    model.catch(() => textModels.delete(key));
  }
  return model;
}

async function readTextModel(files: GenerateSettings["files"]): Promise<GenerationTextModel> {
  const read = async (name: string): Promise<Record<string, unknown> | undefined> => {
    const file = files[name];
    if (!file) return undefined;
    const bytes = new Uint8Array(await Bun.file(file.path).arrayBuffer());
    const sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
    if (sha256 !== file.sha256) throw new Error(`companion file ${name} does not match its sha256 ${file.sha256} (the cached copy changed)`);
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  };
  const tokenizerJson = await read("tokenizer.json");
  if (!tokenizerJson) throw new Error('txt2txt needs a companion file "tokenizer.json"');
  const tokenizerConfig = (await read("tokenizer_config.json")) ?? {};
  const generationConfig = (await read("generation_config.json")) ?? {};
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const configured = generationConfig.eos_token_id;
  let eosTokenIds = Array.isArray(configured) ? configured.filter((id): id is number => typeof id === "number") : typeof configured === "number" ? [configured] : [];
  if (eosTokenIds.length === 0 && typeof tokenizerConfig.eos_token === "string") {
    const id = tokenizer.token_to_id(tokenizerConfig.eos_token);
    if (id !== undefined) eosTokenIds = [id];
  }
  const maxLength = tokenizerConfig.model_max_length;
  return { tokenizer, eosTokenIds, maxSequenceLength: typeof maxLength === "number" && maxLength > 0 && maxLength < 1e9 ? maxLength : undefined };
}

export interface DecoderSignature {
  geometry: CacheGeometry;
  hasPositionIds: boolean;
  /** Optimum's merged decoder takes `use_cache_branch` (false on the first step). */
  hasUseCacheBranch: boolean;
}

/** The decoder's cache inputs and their fixed dims; throws when the model is not a KV-cache decoder. */
export function decoderSignature(session: ort.InferenceSession): DecoderSignature {
  const inputs = new Map(session.inputMetadata.map((metadata) => [metadata.name, metadata]));
  for (const name of ["input_ids", "attention_mask"]) {
    if (!inputs.has(name)) throw new Error(`txt2txt needs a decoder with input "${name}"`);
  }
  if (!session.outputNames.includes("logits")) throw new Error('txt2txt needs a decoder with output "logits"');
  const names: string[] = [];
  for (let layer = 0; inputs.has(`past_key_values.${layer}.key`); layer++) names.push(`past_key_values.${layer}.key`, `past_key_values.${layer}.value`);
  if (names.length === 0) throw new Error('txt2txt needs a decoder with KV-cache inputs "past_key_values.{i}.key/value"');
  const first = inputs.get(names[0]!)!;
  if (!first.isTensor || (first.type !== "float32" && first.type !== "float16")) {
    throw new Error(`txt2txt supports float32 and float16 KV caches; "${names[0]}" is ${first.isTensor ? first.type : "not a tensor"}`);
  }
  const [, heads, , headDimension] = first.shape;
  if (typeof heads !== "number" || typeof headDimension !== "number") {
    throw new Error("txt2txt needs the KV-cache inputs' heads and head dimension fixed in the model ([batch, heads, past, headDim])");
  }
  for (const name of names) {
    const present = name.replace("past_key_values", "present");
    if (!session.outputNames.includes(present)) throw new Error(`txt2txt needs the decoder output "${present}"`);
  }
  return { geometry: { names, heads, headDimension, elementType: first.type }, hasPositionIds: inputs.has("position_ids"), hasUseCacheBranch: inputs.has("use_cache_branch") };
}
