/**
 * Bounds on a model's serving config, checked when a config is stored (registration, update) so one
 * registration cannot start 64 workers of 256 threads each, promise a 1 MB footprint to the memory
 * budget, warm up with a gigabyte tensor, or set a timer that overflows `setTimeout`. The request
 * schemas check types; these bounds are domain rules, checked on every path (REST, gRPC, CLI).
 *
 * A value out of bounds is INVALID_INPUT naming the field and the bound:
 * `config.replicas must be at most 16, got 64` with details `{ field: "config.replicas", maximum: 16 }`.
 */
import { invalidInput } from "../errors.ts";
import { MAX_TIMER_MILLISECONDS } from "../clock.ts";
import type { ModelConfig } from "./model-config.ts";

/** Worker processes per model: each holds the model in memory and competes for the cores. */
export const MAX_REPLICAS = 16;
/** onnxruntime intra-op threads per worker (0 = onnxruntime's default). */
export const MAX_INTRA_OP_THREADS = 64;
/** Rows one batch may carry. */
export const MAX_BATCH_SIZE = 4096;
/** Longest a batch may wait for more requests: one second. */
export const MAX_QUEUE_DELAY_MICROSECONDS = 1_000_000;
/** Queued requests per model at most (0 = unbounded stays allowed: an admin's explicit choice). */
export const MAX_QUEUE_SIZE = 1_000_000;
/** Timers beyond MAX_TIMER_MILLISECONDS fire at once; longer timeouts and keep-alives are refused. */
export const MAX_TIMEOUT_MICROSECONDS = MAX_TIMER_MILLISECONDS * 1000;
export const MAX_KEEP_ALIVE_SECONDS = Math.floor(MAX_TIMER_MILLISECONDS / 1000);
/**
 * Smallest footprint a config may promise the memory budget: a worker with onnxruntime imported and
 * nothing loaded is ~40 MB resident, so a smaller figure would let the budget admit models it cannot hold.
 */
export const MIN_MEMORY_MB = 32;
/** All warm-up tensors together, in elements (64 MiB of FP32). */
export const MAX_WARMUP_ELEMENTS = 16 * 1024 * 1024;
/** Longest token sequence a txt2embed model may be configured for. */
export const MAX_SEQUENCE_LENGTH = 131_072;

/**
 * Throws INVALID_INPUT for the first field of `config` out of bounds. Fields not present are not
 * checked (a partial config at registration, a merged one at update).
 */
export function checkConfigBounds(config: Partial<ModelConfig>): void {
  integerAtMost("replicas", config.replicas, 1, MAX_REPLICAS);
  integerAtMost("intraOpThreads", config.intraOpThreads, 0, MAX_INTRA_OP_THREADS);
  integerAtMost("maxBatchSize", config.maxBatchSize, 0, MAX_BATCH_SIZE);
  for (const size of config.preferredBatchSizes ?? []) integerAtMost("preferredBatchSizes", size, 1, MAX_BATCH_SIZE);
  integerAtMost("maxQueueDelayMicroseconds", config.maxQueueDelayMicroseconds, 0, MAX_QUEUE_DELAY_MICROSECONDS);
  integerAtMost("maxQueueSize", config.maxQueueSize, 0, MAX_QUEUE_SIZE);
  integerAtMost("defaultTimeoutMicroseconds", config.defaultTimeoutMicroseconds, 0, MAX_TIMEOUT_MICROSECONDS);
  integerAtMost("keepAliveSeconds", config.keepAliveSeconds, -1, MAX_KEEP_ALIVE_SECONDS);
  integerAtMost("maxSequenceLength", config.maxSequenceLength, 2, MAX_SEQUENCE_LENGTH);
  if (config.memoryMb !== undefined && !(Number.isFinite(config.memoryMb) && config.memoryMb >= MIN_MEMORY_MB)) {
    throw invalidInput(`config.memoryMb must be at least ${MIN_MEMORY_MB}, got ${config.memoryMb}`, { field: "config.memoryMb", minimum: MIN_MEMORY_MB });
  }
  if (config.warmupShapes !== undefined) checkWarmupShapes(config.warmupShapes);
}

function checkWarmupShapes(shapes: Record<string, number[]>): void {
  let elements = 0;
  for (const [input, shape] of Object.entries(shapes)) {
    for (const dimension of shape) integerAtMost(`warmupShapes.${input}`, dimension, 1, MAX_WARMUP_ELEMENTS);
    elements += shape.reduce((product, dimension) => product * dimension, 1);
    if (elements > MAX_WARMUP_ELEMENTS) {
      throw invalidInput(`config.warmupShapes must hold at most ${MAX_WARMUP_ELEMENTS} elements in all, got ${elements} by input "${input}"`, {
        field: "config.warmupShapes",
        maximum: MAX_WARMUP_ELEMENTS,
      });
    }
  }
}

function integerAtMost(field: string, value: number | undefined, minimum: number, maximum: number): void {
  if (value === undefined) return;
  if (Number.isInteger(value) && value > maximum) throw invalidInput(`config.${field} must be at most ${maximum}, got ${value}`, { field: `config.${field}`, maximum });
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw invalidInput(`config.${field} must be a whole number ≥ ${minimum}, got ${value}`, { field: `config.${field}`, minimum });
  }
}
