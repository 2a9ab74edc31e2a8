/** Pins the bounds a model's serving config must keep (src/registry/config-bounds.ts): each refusal names the field and the bound. */
import { describe, expect, test } from "bun:test";
import { ModelMoraError } from "../../src/errors.ts";
import {
  MAX_BATCH_SIZE,
  MAX_INTRA_OP_THREADS,
  MAX_KEEP_ALIVE_SECONDS,
  MAX_QUEUE_DELAY_MICROSECONDS,
  MAX_REPLICAS,
  MAX_TIMEOUT_MICROSECONDS,
  MAX_WARMUP_ELEMENTS,
  MIN_MEMORY_MB,
  checkConfigBounds,
} from "../../src/registry/config-bounds.ts";
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from "../../src/registry/model-config.ts";

function refusal(config: Partial<ModelConfig>): ModelMoraError {
  try {
    checkConfigBounds(config);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelMoraError);
    return error as ModelMoraError;
  }
  throw new Error(`expected ${JSON.stringify(config)} to be refused`);
}

describe("model config bounds", () => {
  test("the defaults and values at each bound pass", () => {
    checkConfigBounds(DEFAULT_MODEL_CONFIG);
    checkConfigBounds({
      replicas: MAX_REPLICAS,
      intraOpThreads: MAX_INTRA_OP_THREADS,
      maxBatchSize: MAX_BATCH_SIZE,
      maxQueueDelayMicroseconds: MAX_QUEUE_DELAY_MICROSECONDS,
      defaultTimeoutMicroseconds: MAX_TIMEOUT_MICROSECONDS,
      keepAliveSeconds: MAX_KEEP_ALIVE_SECONDS,
      memoryMb: MIN_MEMORY_MB,
      warmupShapes: { a: [1, MAX_WARMUP_ELEMENTS / 2], b: [2, MAX_WARMUP_ELEMENTS / 4] },
    });
    checkConfigBounds({ keepAliveSeconds: -1, maxQueueSize: 0 });
  });

  test.each([
    [{ replicas: MAX_REPLICAS + 1 }, "config.replicas", `at most ${MAX_REPLICAS}`],
    [{ replicas: 0 }, "config.replicas", "≥ 1"],
    [{ intraOpThreads: 256 }, "config.intraOpThreads", `at most ${MAX_INTRA_OP_THREADS}`],
    [{ maxBatchSize: 1e6 }, "config.maxBatchSize", `at most ${MAX_BATCH_SIZE}`],
    [{ preferredBatchSizes: [4, MAX_BATCH_SIZE * 2] }, "config.preferredBatchSizes", `at most ${MAX_BATCH_SIZE}`],
    [{ maxQueueDelayMicroseconds: 60_000_000 }, "config.maxQueueDelayMicroseconds", `at most ${MAX_QUEUE_DELAY_MICROSECONDS}`],
    [{ defaultTimeoutMicroseconds: 2 ** 31 * 1000 }, "config.defaultTimeoutMicroseconds", `at most ${MAX_TIMEOUT_MICROSECONDS}`],
    [{ keepAliveSeconds: 30 * 24 * 3600 }, "config.keepAliveSeconds", `at most ${MAX_KEEP_ALIVE_SECONDS}`],
    [{ keepAliveSeconds: -2 }, "config.keepAliveSeconds", "≥ -1"],
    [{ memoryMb: 1 }, "config.memoryMb", `at least ${MIN_MEMORY_MB}`],
    [{ warmupShapes: { x: [1, 1e300] } }, "config.warmupShapes.x", "at most"],
    [{ warmupShapes: { x: [1.5] } }, "config.warmupShapes.x", "whole number"],
    [{ warmupShapes: { a: [4096, 4096], b: [1] } }, "config.warmupShapes", `at most ${MAX_WARMUP_ELEMENTS} elements`],
  ] as [Partial<ModelConfig>, string, string][])("%j is INVALID_INPUT naming %s", (config, field, bound) => {
    const error = refusal(config);
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.details?.field).toBe(field);
    expect(error.message).toContain(field);
    expect(error.message).toContain(bound);
  });
});
