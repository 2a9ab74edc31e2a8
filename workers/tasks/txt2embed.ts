/**
 * txt2embed in the worker: texts of a whole batch (several requests) → tokenizer.json (Hugging Face
 * format, through @huggingface/tokenizers) → input_ids / attention_mask / token_type_ids padded to the
 * longest text of its run → `session.run` → pooling per text (mean over the mask, first token, or
 * last real token) → one `embeddings` FP32 [n, dim] and `tokens` INT32 [n] per request. The runs are
 * cut by length (embed-rows.ts): texts sorted by length, a few hundred padded tokens per run. Vectors leave
 * unnormalised: normalising, and cutting to fewer `dimensions`, is per request on the server.
 *
 * A text longer than the maximum is cut to its first `maximum − 1` tokens plus its last one (the
 * end-of-sequence special token a BERT-style post-processor adds), or, with `truncate: false`, its
 * request alone is answered with an `error` tensor. Token ids given instead of text (`pretokenized`)
 * are used as they are (no special tokens added) and cut to their first `maximum`.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import type * as ort from "onnxruntime-node";
import type { TensorSpec, Txt2EmbedSettings, WireTensor } from "../protocol.ts";
import { memoized, readCompanion } from "./companion.ts";
import { embedRows } from "./embed-rows.ts";

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
