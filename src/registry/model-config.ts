/**
 * Per-model serving configuration, stored as JSON with the model. Names follow Triton's
 * model_config vocabulary and carry their units. Missing keys take the defaults below.
 */
export type Device = "auto" | "cpu" | "cuda" | "webgpu";

export interface ModelConfig {
  /**
   * Largest batch in rows (dim 0) the batch former may send; 0 or 1 = never batch. Only models
   * whose inputs and outputs all have a dynamic dim 0 batch at all (src/inference/batch-policy.ts);
   * for those the default batches, as Triton's auto-completed configs and TEI do: with no queue
   * delay, a batch holds only what queued while the worker was busy, so it costs no latency.
   */
  maxBatchSize: number;
  /** Batch sizes (rows) the model runs best at; the batch former sends them as soon as reachable. */
  preferredBatchSizes: number[];
  /** How long the batch former may hold the first request waiting for more. */
  maxQueueDelayMicroseconds: number;
  /**
   * Queued requests allowed for this model; 0 = unbounded. The default (DEFAULT_MAX_QUEUE_SIZE) bounds
   * a model nobody configured; the shared-memory arena bounds the queued bytes besides.
   */
  maxQueueSize: number;
  /** Deadline for a request that names none; 0 = no deadline. */
  defaultTimeoutMicroseconds: number;
  /** A request whose deadline passes while queued: `reject` (504) or `delay` (drops behind every priority). */
  timeoutAction: "reject" | "delay";
  /** Worker processes serving this model. */
  replicas: number;
  /**
   * onnxruntime intra-op threads per worker; 0 = onnxruntime's default (one per core). More threads
   * speed one big inference; fewer leave room for replicas and other busy models on the machine.
   */
  intraOpThreads: number;
  /**
   * onnxruntime's CPU memory arena: on (the default), memory a run allocated is kept and reused by
   * the next runs. Off, each run allocates afresh; measured on the PaddleOCR classifier, one 317-row
   * batch then left the worker at 525 MB instead of 286 MB (the allocator keeps what it freed), so
   * turning it off is for models where the arena's own growth is the problem.
   */
  enableCpuMemArena: boolean;
  /** Execution provider preference; `auto` tries CUDA then falls back to CPU. */
  device: Device;
  /** Load at server start instead of on the first request. */
  preload: boolean;
  /** Unload after this long idle; 0 = right after use, -1 = never. */
  keepAliveSeconds: number;
  /** Footprint estimate before load; default 1.5 × the model file size. */
  memoryMb: number | undefined;
  /**
   * Shapes for the health-check inference run right after load, per input name. Dynamic
   * dimensions not given here are 1, which suits most models; convolutional models whose
   * spatial dims are dynamic need a realistic shape here (e.g. `{ "x": [1, 3, 48, 192] }`).
   */
  warmupShapes: Record<string, number[]> | undefined;
  /**
   * txt2embed: how token vectors become one vector — `mean` over the attention mask, `cls` (first
   * token) or `last` (last real token). Unset: the version's 1_Pooling/config.json, else `mean`.
   */
  pooling: "mean" | "cls" | "last" | undefined;
  /** txt2embed: L2-normalise embeddings unless a request says otherwise. Unset: true. */
  normalize: boolean | undefined;
  /**
   * txt2embed: longest token sequence; longer texts are truncated. Unset: tokenizer.json's
   * truncation, tokenizer_config.json's model_max_length, the model's fixed length, else 512.
   * Attention cost grows with its square, so a smaller value bounds the cost of one long text.
   */
  maxSequenceLength: number | undefined;
  /**
   * txt2txt: sequences that decode at once in one worker (continuous batching); more wait, in
   * priority order, for a slot. More sequences share each step (more tokens/s in all) but each
   * step takes longer (slower tokens for each) and the KV cache grows with every one.
   */
  maxConcurrentSequences: number;
}

/** Queued requests per model when its config names no maxQueueSize. */
export const DEFAULT_MAX_QUEUE_SIZE = 4096;

/** Rows per batch when a batchable model's config names no maxBatchSize. */
export const DEFAULT_MAX_BATCH_SIZE = 16;

export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  maxBatchSize: DEFAULT_MAX_BATCH_SIZE,
  preferredBatchSizes: [],
  maxQueueDelayMicroseconds: 0,
  maxQueueSize: DEFAULT_MAX_QUEUE_SIZE,
  defaultTimeoutMicroseconds: 0,
  timeoutAction: "reject",
  replicas: 1,
  intraOpThreads: 0,
  enableCpuMemArena: true,
  device: "auto",
  preload: false,
  keepAliveSeconds: 300,
  memoryMb: undefined,
  warmupShapes: undefined,
  pooling: undefined,
  normalize: undefined,
  maxSequenceLength: undefined,
  maxConcurrentSequences: 8,
};

export function withDefaults(partial: Partial<ModelConfig> | undefined): ModelConfig {
  return { ...DEFAULT_MODEL_CONFIG, ...stripUndefined(partial ?? {}) };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}

/** A config update: keys to change; `null` returns a key to its default. */
export type ModelConfigPatch = { [Key in keyof ModelConfig]?: ModelConfig[Key] | null };
