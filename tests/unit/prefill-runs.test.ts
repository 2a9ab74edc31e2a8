/**
 * Grouping of joining prompts into prefill runs: shortest first, a prompt joining only while the
 * padding it adds and the run's padded size stay within their limits, every sequence in exactly one
 * run; and the run's inputs are right-padded with positions from 0.
 */
import { describe, expect, test } from "bun:test";
import { prefillInputs, prefillRuns } from "../../workers/generation/prefill.ts";
import type { Sequence } from "../../workers/generation/sequence.ts";
import type { DecoderSignature } from "../../workers/generation/text-model.ts";

/** Only what prefill.ts reads of a sequence: its id and prompt. */
function sequence(id: number, promptLength: number): Sequence {
  return { id, promptIds: Array.from({ length: promptLength }, (_, index) => 10 + id * 100 + index) } as unknown as Sequence;
}

const signature = (hasPositionIds: boolean): DecoderSignature => ({ geometry: { names: [], heads: 1, headDimension: 1, elementType: "float32" }, hasPositionIds, hasUseCacheBranch: false });

describe("prefillRuns", () => {
  test("short prompts share one run, shortest first", () => {
    const runs = prefillRuns([sequence(0, 5), sequence(1, 2), sequence(2, 9)], { paddingTokens: 16, tokensPerRun: 512 });
    expect(runs.map((run) => run.map((entry) => entry.id))).toEqual([[1, 0, 2]]);
  });

  test("a prompt that would add more padding than allowed starts a new run", () => {
    // Lengths 5, 9, 11, 13, 13, 14, 22, 36 (the bench's prompts): padding added 4, 8, 14, 14, then 19 > 16.
    const lengths = [13, 36, 5, 22, 9, 14, 11, 13];
    const runs = prefillRuns(lengths.map((length, id) => sequence(id, length)), { paddingTokens: 16, tokensPerRun: 512 });
    expect(runs.map((run) => run.map((entry) => entry.promptIds.length))).toEqual([[5, 9, 11, 13, 13], [14, 22], [36]]);
    for (const run of runs) {
      const longest = Math.max(...run.map((entry) => entry.promptIds.length));
      const padding = run.reduce((sum, entry) => sum + longest - entry.promptIds.length, 0);
      expect(padding).toBeLessThanOrEqual(16 * (run.length - 1));
    }
  });

  test("a run's rows × longest prompt stays within the budget; a longer prompt runs alone", () => {
    const lengths = [30, 30, 30, 31, 200, 31];
    const runs = prefillRuns(lengths.map((length, id) => sequence(id, length)), { paddingTokens: 1000, tokensPerRun: 100 });
    for (const run of runs) {
      const longest = Math.max(...run.map((entry) => entry.promptIds.length));
      expect(run.length === 1 || run.length * longest <= 100).toBe(true);
    }
    expect(runs.flat().map((entry) => entry.id).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(runs.map((run) => run.length)).toEqual([3, 2, 1]);
    expect(runs.at(-1)!.map((entry) => entry.id)).toEqual([4]);
  });
});

describe("prefillInputs", () => {
  test("right-pads ids and mask to the longest prompt; positions count from 0 in every row", () => {
    const run = [sequence(1, 2), sequence(2, 3)];
    const { feeds, width } = prefillInputs(run, signature(true));
    expect(width).toBe(3);
    expect(feeds.input_ids!.dims).toEqual([2, 3]);
    expect(Array.from(feeds.input_ids!.data as BigInt64Array, Number)).toEqual([110, 111, 0, 210, 211, 212]);
    expect(Array.from(feeds.attention_mask!.data as BigInt64Array, Number)).toEqual([1, 1, 0, 1, 1, 1]);
    expect(Array.from(feeds.position_ids!.data as BigInt64Array, Number)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(prefillInputs(run, signature(false)).feeds.position_ids).toBeUndefined();
  });
});
