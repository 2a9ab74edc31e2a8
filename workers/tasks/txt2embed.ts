/**
 * txt2embed in the worker: texts of a whole batch (several requests) → tokenizer.json (Hugging Face
 * format, through @huggingface/tokenizers) → input_ids / attention_mask / token_type_ids padded to the
 * longest text of the batch → one `session.run` → pooling per text (mean over the mask, first token, or
 * last real token) → one `embeddings` FP32 [n, dim] and `tokens` INT32 [n] per request. Vectors leave
 * unnormalised: normalising, and cutting to fewer `dimensions`, is per request on the server.
 *
 * A text longer than the maximum is cut to its first `maximum − 1` tokens plus its last one (the
 * end-of-sequence special token a BERT-style post-processor adds), or, with `truncate: false`, its
 * request alone is answered with an `error` tensor. Token ids given instead of text (`pretokenized`)
 * are used as they are (no special tokens added) and cut to their first `maximum`.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-node";
import type { TensorSpec, Txt2EmbedSettings, WireTensor } from "../protocol.ts";
import { memoized, readCompanion } from "./companion.ts";

/** The longest sequence when neither the config, the tokenizer files, nor the model say. */
export const DEFAULT_MAX_SEQUENCE_LENGTH = 512;

export interface Txt2EmbedItem {
  settings: Txt2EmbedSettings;
  texts: string[];
}

interface TextModel {
  tokenizer: Tokenizer;
  /** From tokenizer.json `truncation.max_length` or tokenizer_config.json `model_max_length`. */
  maxSequenceLength: number | undefined;
  /** From 1_Pooling/config.json. */
  pooling: "mean" | "cls" | "last" | undefined;
  /** Ids below this are valid token ids (added tokens included). */
  vocabularySize: number;
  /** Ids of the special added tokens ([CLS], [SEP], [PAD] …). */
  specialIds: Set<number>;
}

/** Tokeniser and pooling files, read and checked against their sha256 once per worker. */
const textModel = memoized(async (key) => readTextModel(JSON.parse(key) as Txt2EmbedSettings["files"]));

async function readTextModel(files: Txt2EmbedSettings["files"]): Promise<TextModel> {
  const read = async (name: string): Promise<Record<string, unknown> | undefined> => {
    const file = files[name];
    return file ? (JSON.parse(new TextDecoder().decode(await readCompanion(name, file))) as Record<string, unknown>) : undefined;
  };
  const tokenizerJson = await read("tokenizer.json");
  if (!tokenizerJson) throw new Error('txt2embed needs a companion file "tokenizer.json"');
  const tokenizerConfig = (await read("tokenizer_config.json")) ?? {};
  const poolingConfig = await read("1_Pooling/config.json");
  const truncation = tokenizerJson.truncation as { max_length?: number } | null | undefined;
  const configured = truncation?.max_length ?? (tokenizerConfig.model_max_length as number | undefined);
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  return {
    tokenizer,
    vocabularySize: Math.max(...tokenizer.get_vocab(true).values()) + 1,
    specialIds: new Set([...tokenizer.get_added_tokens_decoder()].filter(([, token]) => token.special).map(([id]) => id)),
    // tokenizer_config.json says 1e30 when it means "no limit".
    maxSequenceLength: typeof configured === "number" && configured > 0 && configured < 1e9 ? configured : undefined,
    pooling: poolingConfig && poolingFromSentenceTransformers(poolingConfig),
  };
}

/** The pooling a sentence-transformers 1_Pooling/config.json asks for. */
function poolingFromSentenceTransformers(config: Record<string, unknown>): TextModel["pooling"] {
  if (config.pooling_mode_cls_token) return "cls";
  if (config.pooling_mode_lasttoken) return "last";
  if (config.pooling_mode_mean_tokens) return "mean";
  return undefined;
}

/** Token ids the caller sent (OpenAI's token-array input), checked against the vocabulary. */
function givenIds(text: string, vocabularySize: number): { ids: number[]; typeIds: number[] } | string {
  const ids: unknown = JSON.parse(text);
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocabularySize)) {
    return `token ids must be a non-empty list of integers from 0 to ${vocabularySize - 1}`;
  }
  return { ids, typeIds: ids.map(() => 0) };
}

/** The ids of `text`, cut to `maximum` when `truncate`; an error message when it cannot be used. */
function encode(model: TextModel, text: string, maximum: number, item: Txt2EmbedSettings): { ids: number[]; typeIds: number[] } | string {
  if (item.pretokenized) {
    const given = givenIds(text, model.vocabularySize);
    if (typeof given === "string" || given.ids.length <= maximum) return given;
    if (!item.truncate) return `has ${given.ids.length} tokens, more than ${maximum}, and truncate is false`;
    return { ids: given.ids.slice(0, maximum), typeIds: given.typeIds.slice(0, maximum) };
  }
  const encoding = model.tokenizer.encode(text, { return_token_type_ids: true, add_special_tokens: item.addSpecialTokens ?? true });
  let ids = encoding.ids;
  let typeIds = encoding.token_type_ids ?? ids.map(() => 0);
  if (ids.length > maximum) {
    if (!item.truncate) return `has ${ids.length} tokens, more than ${maximum}, and truncate is false`;
    ids = [...ids.slice(0, maximum - 1), ids[ids.length - 1]!];
    typeIds = [...typeIds.slice(0, maximum - 1), typeIds[typeIds.length - 1]!];
  }
  return { ids, typeIds };
}

/** Runs one batch; answers one list of tensors per item, in order. */
export async function runTxt2Embed(session: ort.InferenceSession, inputs: TensorSpec[], items: Txt2EmbedItem[]): Promise<WireTensor[][]> {
  const settings = items[0]!.settings;
  const model = await textModel(JSON.stringify(settings.files));
  const idsSpec = inputs.find((input) => input.name === "input_ids") ?? inputs[0]!;
  const fixedLength = idsSpec.shape[1] !== undefined && idsSpec.shape[1] > 0 ? idsSpec.shape[1] : undefined;
  // Tokenising only (TEI /tokenize) shows every token; nothing is cut.
  const maximum =
    settings.op === "tokenize" ? Number.POSITIVE_INFINITY : (settings.maxSequenceLength ?? model.maxSequenceLength ?? fixedLength ?? DEFAULT_MAX_SEQUENCE_LENGTH);

  // Tokenise every text; a request with a text too long (and truncate: false) is answered alone.
  const answers: (WireTensor[] | undefined)[] = [];
  const rows: { ids: number[]; typeIds: number[] }[] = [];
  const owners: number[] = [];
  items.forEach((item, itemIndex) => {
    const encoded = item.texts.map((text) => encode(model, text, maximum, item.settings));
    const refused = encoded.findIndex((entry) => typeof entry === "string");
    if (refused >= 0) {
      answers[itemIndex] = [errorTensor(`[${refused}] ${encoded[refused] as string}`)];
      return;
    }
    for (const entry of encoded as { ids: number[]; typeIds: number[] }[]) {
      rows.push(entry);
      owners.push(itemIndex);
    }
  });
  if (settings.op === "tokenize") return tokenizeAnswers(model, items, answers, rows, owners);
  if (rows.length === 0) return answers.map((answer) => answer!);

  const pooled = await embedRows(session, inputs, rows, fixedLength, settings.pooling ?? model.pooling ?? "mean");
  const dimensions = pooled.length / rows.length;
  let row = 0;
  return items.map((item, itemIndex) => {
    const answer = answers[itemIndex];
    if (answer) return answer;
    const count = item.texts.length;
    const embeddings = pooled.slice(row * dimensions, (row + count) * dimensions);
    const tokens = Int32Array.from(rows.slice(row, row + count), (entry) => entry.ids.length);
    row += count;
    return [
      { name: "embeddings", datatype: "FP32", shape: [count, dimensions], data: embeddings },
      { name: "tokens", datatype: "INT32", shape: [count], data: tokens },
    ];
  });
}

/** Pads the rows to the longest (or the model's fixed length), runs the model, pools per row. */
async function embedRows(
  session: ort.InferenceSession,
  inputs: TensorSpec[],
  rows: { ids: number[]; typeIds: number[] }[],
  fixedLength: number | undefined,
  pooling: "mean" | "cls" | "last",
): Promise<Float32Array> {
  const length = fixedLength ?? Math.max(...rows.map((entry) => entry.ids.length));
  const count = rows.length;
  const ids = new BigInt64Array(count * length);
  const mask = new BigInt64Array(count * length);
  const typeIds = new BigInt64Array(count * length);
  rows.forEach((entry, index) => {
    for (let position = 0; position < entry.ids.length; position++) {
      ids[index * length + position] = BigInt(entry.ids[position]!);
      mask[index * length + position] = 1n;
      typeIds[index * length + position] = BigInt(entry.typeIds[position]!);
    }
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const values = input.name === "attention_mask" ? mask : input.name === "token_type_ids" ? typeIds : input.name === "input_ids" ? ids : undefined;
    if (!values) throw new Error(`txt2embed cannot feed model input "${input.name}" (it knows input_ids, attention_mask, token_type_ids)`);
    feeds[input.name] = input.datatype === "INT32" ? new ort.Tensor("int32", Int32Array.from(values, Number), [count, length]) : new ort.Tensor("int64", values, [count, length]);
  }
  const outputName = session.outputNames.includes("last_hidden_state") ? "last_hidden_state" : session.outputNames[0]!;
  const results = await session.run(feeds, [outputName]);
  for (const tensor of Object.values(feeds)) tensor.dispose();
  const hidden = results[outputName]!;
  const data = hidden.data as Float32Array;
  if (hidden.dims.length === 2) return data.slice(); // already one vector per text (a pooled output)
  if (hidden.dims.length !== 3) throw new Error(`txt2embed expects output "${outputName}" of rank 2 or 3, got [${hidden.dims.join(", ")}]`);
  const [, sequence, dimensions] = hidden.dims as [number, number, number];
  const pooled = new Float32Array(count * dimensions);
  rows.forEach((entry, index) => {
    const real = Math.min(entry.ids.length, sequence);
    const out = pooled.subarray(index * dimensions, (index + 1) * dimensions);
    const rowAt = (position: number) => (index * sequence + position) * dimensions;
    if (pooling === "cls" || pooling === "last") {
      const start = rowAt(pooling === "cls" ? 0 : real - 1);
      out.set(data.subarray(start, start + dimensions));
      return;
    }
    // Mean over the real tokens only: padding never changes a row.
    const sums = new Float64Array(dimensions);
    for (let position = 0; position < real; position++) {
      const start = rowAt(position);
      for (let dimension = 0; dimension < dimensions; dimension++) sums[dimension]! += data[start + dimension]!;
    }
    for (let dimension = 0; dimension < dimensions; dimension++) out[dimension] = sums[dimension]! / real;
  });
  return pooled;
}

/** TEI /tokenize: per item, `ids` and their `tokens` and `special` flags, `lengths` per text. */
function tokenizeAnswers(
  model: TextModel,
  items: Txt2EmbedItem[],
  answers: (WireTensor[] | undefined)[],
  rows: { ids: number[] }[],
  owners: number[],
): WireTensor[][] {
  return items.map((_, itemIndex) => {
    const answer = answers[itemIndex];
    if (answer) return answer;
    const mine = rows.filter((__, index) => owners[index] === itemIndex);
    const ids = Int32Array.from(mine.flatMap((entry) => entry.ids));
    const tokens = Array.from(ids, (id) => model.tokenizer.id_to_token(id) ?? "");
    const special = Uint8Array.from(ids, (id) => (model.specialIds.has(id) ? 1 : 0));
    return [
      { name: "ids", datatype: "INT32", shape: [ids.length], data: ids },
      { name: "lengths", datatype: "INT32", shape: [mine.length], data: Int32Array.from(mine, (entry) => entry.ids.length) },
      { name: "tokens", datatype: "BYTES", shape: [tokens.length], data: tokens },
      { name: "special", datatype: "UINT8", shape: [special.length], data: special },
    ];
  });
}

function errorTensor(message: string): WireTensor {
  return { name: "error", datatype: "BYTES", shape: [1], data: [message] };
}
