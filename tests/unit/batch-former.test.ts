/** formBatch: Triton-style batch decisions, as a pure function of the queue head and the clock. */
import { describe, expect, test } from "bun:test";
import { type BatchCandidate, type BatchPolicy, formBatch, shareBatch } from "../../src/scheduler/batch-former.ts";

const POLICY: BatchPolicy = { maxBatchSize: 8, preferredBatchSizes: [], maxQueueDelayMicroseconds: 1000 };

function candidates(rows: number[], enqueuedAtMicroseconds = 0, priority = 3): BatchCandidate[] {
  return rows.map((count) => ({ rows: count, priority, enqueuedAtMicroseconds }));
}

describe("formBatch", () => {
  test("a model that does not batch sends one request at a time", () => {
    expect(formBatch(candidates([1, 1, 1]), { ...POLICY, maxBatchSize: 0 }, 0)).toEqual({ kind: "send", count: 1 });
    expect(formBatch(candidates([1, 1]), { ...POLICY, maxBatchSize: 1 }, 0)).toEqual({ kind: "send", count: 1 });
  });

  test("waits for company until the head's delay runs out", () => {
    expect(formBatch(candidates([1, 1], 0), POLICY, 300)).toEqual({ kind: "wait", microseconds: 700 });
  });

  test("sends what has gathered once the head has waited maxQueueDelayMicroseconds", () => {
    expect(formBatch(candidates([1, 2], 0), POLICY, 1000)).toEqual({ kind: "send", count: 2 });
    expect(formBatch(candidates([1], 0), POLICY, 5000)).toEqual({ kind: "send", count: 1 });
  });

  test("a full batch goes at once, counting rows, not requests", () => {
    expect(formBatch(candidates([4, 4]), POLICY, 0)).toEqual({ kind: "send", count: 2 });
    expect(formBatch(candidates([2, 2, 2, 2, 1]), POLICY, 0)).toEqual({ kind: "send", count: 4 });
  });

  test("a request that does not fit closes the batch before it", () => {
    expect(formBatch(candidates([3, 3, 3]), POLICY, 0)).toEqual({ kind: "send", count: 2 });
  });

  test("zero delay sends immediately", () => {
    expect(formBatch(candidates([1]), { ...POLICY, maxQueueDelayMicroseconds: 0 }, 0)).toEqual({ kind: "send", count: 1 });
  });

  test("a CRITICAL head flushes at once with the CRITICAL requests gathered behind it, within maxBatchSize", () => {
    expect(formBatch(candidates([1, 1], 0, 1), POLICY, 0)).toEqual({ kind: "send", count: 2 });
    expect(formBatch(candidates([4, 4, 4], 0, 1), POLICY, 0)).toEqual({ kind: "send", count: 2 });
  });

  test("a CRITICAL head leaves the lower-priority requests behind it for the next batch", () => {
    const queue = [...candidates([1, 2], 0, 1), ...candidates([1, 1, 1], 0, 4)];
    expect(formBatch(queue, POLICY, 0)).toEqual({ kind: "send", count: 2 });
    expect(formBatch([...candidates([1], 0, 1), ...candidates([1], 0, 2)], POLICY, 0)).toEqual({ kind: "send", count: 1 });
  });

  test("reaching the largest preferred size sends the largest exact preferred prefix", () => {
    const policy = { ...POLICY, preferredBatchSizes: [2, 4] };
    expect(formBatch(candidates([1, 1, 1, 1]), policy, 0)).toEqual({ kind: "send", count: 4 });
    expect(formBatch(candidates([2, 1, 2]), policy, 0)).toEqual({ kind: "send", count: 1 });
    expect(formBatch(candidates([1, 1]), policy, 0)).toEqual({ kind: "wait", microseconds: 1000 });
  });

  test("an oversized head is sent alone rather than stuck (enqueue rejects these first)", () => {
    expect(formBatch(candidates([20, 1]), POLICY, 0)).toEqual({ kind: "send", count: 1 });
  });

  test("needs at least one candidate", () => {
    expect(() => formBatch([], POLICY, 0)).toThrow("this is a bug");
  });
});

describe("shareBatch", () => {
  /** Rows each part gets, from the counts shareBatch answers. */
  const rowsPerPart = (rows: number[], counts: number[]) => counts.map((count, part) => rows.slice(counts.slice(0, part).reduce((sum, value) => sum + value, 0)).slice(0, count).reduce((sum, value) => sum + value, 0));

  test("one idle replica takes the whole batch", () => {
    expect(shareBatch([1, 1, 1], 1)).toEqual([3]);
    expect(shareBatch([5], 0)).toEqual([1]);
  });

  test("requests are shared evenly by rows, in order, every request placed once", () => {
    expect(shareBatch(Array(32).fill(1), 2)).toEqual([16, 16]);
    expect(shareBatch([1, 1, 1, 1, 1], 2)).toEqual([2, 3]);
    expect(shareBatch(Array(10).fill(1), 3)).toEqual([3, 3, 4]);
    const rows = [4, 1, 1, 1, 1, 3, 2, 3];
    const counts = shareBatch(rows, 2);
    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(rows.length);
    expect(rowsPerPart(rows, counts)).toEqual([8, 8]);
  });

  test("never more parts than requests, and each part has at least one request", () => {
    expect(shareBatch([1, 1], 4)).toEqual([1, 1]);
    expect(shareBatch([8, 1, 1], 3)).toEqual([1, 1, 1]);
    expect(shareBatch([1, 1, 8], 2)).toEqual([2, 1]);
  });
});
