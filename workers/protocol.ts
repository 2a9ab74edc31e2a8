/**
 * The IPC contract between the server and a worker process. Both sides import this module, and
 * workers/arena.ts (shared-memory arenas) and workers/datatypes.ts (the datatype table) with it.
 *
 * Tensor bytes do not travel in messages: request tensors lie in the model's input arena (written
 * by the server), outputs in the worker's own output arena (written by the worker); messages carry
 * slices (offset, byte length). Only BYTES tensors, and outputs that do not fit the output arena,
 * travel inline over Bun's IPC channel (`serialization: "advanced"`, structured clone).
 *
 * Lifecycle: server spawns → worker imports onnxruntime and sends `ready-for-load` (a standby worker
 * waits here) → server sends `load` → worker answers `loaded` (or `load-failed`) → server sends
 * `infer` messages, each answered by `inferred` or `infer-failed` with the same `requestId`. The
 * output block of an `inferred` answer stays the server's until it names the block in `release`
 * (on a later `infer`, or alone). A worker exits by itself when its parent goes away.
 */
import type { ArenaSlice } from "./arena.ts";

/** KServe v2 tensor datatypes. */
export const DATATYPES = [
  "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
  "FP16", "FP32", "FP64", "BYTES",
] as const;
export type Datatype = (typeof DATATYPES)[number];

/** A tensor's declared signature; -1 marks a dynamic dimension. */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

export type TensorData =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array | string[];

/** A concrete tensor: BOOL travels as Uint8Array (0/1), FP16 as Uint16Array (IEEE half bits). */
export interface WireTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

/** A tensor whose bytes lie in an arena (the input arena for requests, the output arena for answers). */
export interface SharedTensor {
  name: string;
  datatype: Exclude<Datatype, "BYTES">;
  shape: number[];
  slice: ArenaSlice;
}

/** How a tensor crosses the boundary: by slice of shared memory, or inline. */
export type TransportTensor = SharedTensor | WireTensor;

export function isShared(tensor: TransportTensor): tensor is SharedTensor {
  return "slice" in tensor;
}

export type Provider = "cpu" | "cuda" | "webgpu";

export interface LoadMessage {
  type: "load";
  modelPath: string;
  device: "auto" | "cpu" | "cuda" | "webgpu";
  /** onnxruntime intra-op threads; 0 = onnxruntime's default (one per core). */
  intraOpThreads: number;
  /** onnxruntime's CPU memory arena (keeps run memory for reuse); absent = on. */
  enableCpuMemArena?: boolean;
  /** Run a health-check inference before answering `loaded`. */
  healthCheck: boolean;
  warmupShapes?: Record<string, number[]>;
  /** The model's input arena, which the server writes request tensors into. */
  inputArenaPath?: string;
  /** This worker's own output arena, which it allocates outputs in. */
  outputArena?: { path: string; byteLength: number };
  /** Largest answer (all outputs of one request together) the worker hands over; larger ones fail. */
  maxOutputBytes?: number;
}

/**
 * One batch: each item is one request's full set of inputs. The worker concatenates the items
 * along dim 0, runs once, and splits every output back per item (a single item runs as is).
 */
export interface InferMessage {
  type: "infer";
  requestId: number;
  items: TransportTensor[][];
  /** Output names to return; all outputs when absent. Equal for every item of a batch. */
  outputNames?: string[];
  /** Output blocks (offsets in the output arena) the server is done reading. */
  release?: number[];
}

/** Output blocks the server is done reading, sent when no `infer` is about to carry them. */
export interface ReleaseMessage {
  type: "release";
  offsets: number[];
}

/**
 * Starts one generation sequence (txt2txt). The worker's decoding loop admits it at the next step
 * boundary and answers with `generated` messages (one per decoding step, carrying every sequence
 * that step advanced) until its step carries `finishReason`, or with `generate-failed`. See workers/generation/.
 */
export interface GenerateMessage {
  type: "generate";
  sequenceId: number;
  settings: GenerateSettings;
}

/** Ends a sequence at the next step boundary; it answers a last `generated` with `cancelled`. */
export interface CancelGenerateMessage {
  type: "generate-cancel";
  sequenceId: number;
}

export type ServerToWorker = LoadMessage | InferMessage | ReleaseMessage | GenerateMessage | CancelGenerateMessage;

export type WorkerToServer =
  | { type: "ready-for-load" }
  | { type: "loaded"; provider: Provider; inputs: TensorSpec[]; outputs: TensorSpec[]; loadMilliseconds: number; notes: string[] }
  | { type: "load-failed"; message: string }
  | {
      type: "inferred";
      requestId: number;
      itemOutputs: TransportTensor[][];
      /** The output-arena block holding the shared outputs; the server releases it once read. */
      outputBlock: number | undefined;
      /** When the worker started on the batch (epoch milliseconds, the worker's clock), and for how long. */
      computeStartedAtMilliseconds: number;
      computeMicroseconds: number;
    }
  | { type: "infer-failed"; requestId: number; message: string; code: "INFERENCE_FAILED" | "OUTPUT_TOO_LARGE" }
  | GeneratedMessage
  | { type: "generate-failed"; sequenceId: number; message: string; code: "INFERENCE_FAILED" | "INVALID_INPUT" };

export type FinishReason = "stop" | "length" | "cancelled";

/**
 * One decoding step's output for one sequence: the token(s) chosen and the text they add (text
 * that may still turn into a stop string, or is an incomplete UTF-8 character, is held back until
 * it is certain). The last step of a sequence carries `finishReason`.
 */
export interface SequenceStep {
  sequenceId: number;
  tokenIds: number[];
  text: string;
  finishReason?: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

/** The steps of every sequence that one decoding step advanced, in one message. */
export interface GeneratedMessage {
  type: "generated";
  steps: SequenceStep[];
}

/**
 * Task requests (txt2embed, …) ride in `infer` items, which the pool forwards unchanged: an item
 * whose first tensor is named TASK_TENSOR holds the task's settings as one JSON string (BYTES [1]),
 * followed by its own inline tensors (txt2embed: `text`, BYTES [n]). Every item of a batch names the
 * same task and files (the scheduler batches only requests with one signature); per-item settings
 * (`truncate`) may differ. The answer per item is `embeddings` FP32 [n, dim] (pooled, not normalised)
 * and `tokens` INT32 [n] (op `tokenize`: `ids` INT32 [total], `lengths` INT32 [n], `tokens` BYTES
 * [total], `special` UINT8 [total]), or a single `error` BYTES [1] when that item alone is invalid.
 */
export const TASK_TENSOR = "modelmora.task";

export interface Txt2EmbedSettings {
  task: "txt2embed";
  /** What to do with the texts: embed them, or only tokenise them (TEI /tokenize). */
  op: "embed" | "tokenize";
  /** Companion files the worker reads, with their sha256 (checked on first use). */
  files: Record<string, { path: string; sha256: string }>;
  /** Model config `pooling`; otherwise 1_Pooling/config.json, otherwise mean. */
  pooling?: "mean" | "cls" | "last";
  /** Model config `maxSequenceLength`; otherwise the tokenizer's, otherwise the model's fixed dim, otherwise 512. */
  maxSequenceLength?: number;
  /** Cut texts longer than the maximum (true) or answer this item with an error (false). */
  truncate: boolean;
  /** The item's texts are token-id arrays as JSON (`[101, 7592, 102]`), used as given: no tokeniser. */
  pretokenized?: boolean;
  /** Add the tokenizer's special tokens ([CLS], [SEP]); default true. */
  addSpecialTokens?: boolean;
}

/**
 * Image tasks (img2txt, img2embed, img2label): each item is the settings, then one UINT8 tensor per
 * image (the encoded file: PNG, JPEG or WebP), decoded in the worker. Answers per item:
 * - img2txt without det.onnx (each image one text line): `text` BYTES [n], `confidence` FP32 [n];
 * - img2txt with det.onnx (each image a page): `text` and `confidence` per line found, `boxes` INT32
 *   [lines, 4] (left, top, right, bottom in the page's pixels), `line_counts` INT32 [n];
 * - img2embed: `embeddings` FP32 [n, dim]; img2label: `labels` BYTES [n, k] and their softmax
 *   `scores` FP32 [n, k], best first;
 * - or a single `error` BYTES [1] when one of the item's images cannot be used.
 */
export interface ImageTaskSettings {
  task: "img2txt" | "img2embed" | "img2label";
  /** Companion files the worker reads, with their sha256 (checked on first use). */
  files: Record<string, { path: string; sha256: string }>;
  /** Images declaring more pixels than this are refused before decoding (decompression bombs). */
  maxImagePixels: number;
  /** img2label: labels answered per image (default 5). */
  topK?: number;
}

export type TaskSettings = Txt2EmbedSettings | ImageTaskSettings;

/** One txt2txt sequence's settings: the prompt (chat template already applied) and how to decode. */
export interface GenerateSettings {
  /** Companion files the worker reads (tokenizer.json, tokenizer_config.json, generation_config.json). */
  files: Record<string, { path: string; sha256: string }>;
  /** The prompt text; special tokens written in it (`<|im_start|>`) are parsed as such. */
  prompt: string;
  maxNewTokens: number;
  /** 0 = greedy (argmax); otherwise logits are divided by it before sampling. */
  temperature: number;
  /** Keep the k most likely tokens before sampling; 0 = all. */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches p; 1 = all. */
  topP: number;
  /** Hugging Face's repetition penalty over prompt and generated tokens; 1 = none. */
  repetitionPenalty: number;
  /** Seeds the sequence's own PRNG: the same seed and settings give the same tokens. */
  seed: number;
  /** Strings that end the sequence (not included in its text). */
  stop: string[];
  /** End-of-sequence ids; generation_config.json's `eos_token_id` when absent. */
  eosTokenIds?: number[];
}
