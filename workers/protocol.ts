/**
 * The IPC contract between the server and a worker process: the only module both sides import.
 * Messages travel over Bun's IPC channel with `serialization: "advanced"` (structured clone),
 * so typed arrays cross without JSON encoding.
 *
 * Lifecycle: server spawns → worker sends `ready-for-load` → server sends `load` → worker answers
 * `loaded` (or `load-failed`) → server sends `infer` messages, each answered by `inferred` or
 * `infer-failed` with the same `requestId`. A worker exits by itself when its parent goes away.
 */

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

export type Provider = "cpu" | "cuda" | "webgpu";

export interface LoadMessage {
  type: "load";
  modelPath: string;
  device: "auto" | "cpu" | "cuda" | "webgpu";
  /** onnxruntime intra-op threads; 0 = onnxruntime's default (one per core). */
  intraOpThreads: number;
  /** Run a health-check inference before answering `loaded`. */
  healthCheck: boolean;
  warmupShapes?: Record<string, number[]>;
}

/**
 * One batch: each item is one request's full set of inputs. The worker concatenates the items
 * along dim 0, runs once, and splits every output back per item (a single item runs as is).
 */
export interface InferMessage {
  type: "infer";
  requestId: number;
  items: WireTensor[][];
  /** Output names to return; all outputs when absent. Equal for every item of a batch. */
  outputNames?: string[];
}

export type ServerToWorker = LoadMessage | InferMessage;

export type WorkerToServer =
  | { type: "ready-for-load" }
  | { type: "loaded"; provider: Provider; inputs: TensorSpec[]; outputs: TensorSpec[]; loadMilliseconds: number; notes: string[] }
  | { type: "load-failed"; message: string }
  | { type: "inferred"; requestId: number; itemOutputs: WireTensor[][]; computeMicroseconds: number }
  | { type: "infer-failed"; requestId: number; message: string; invalidInput: boolean };
