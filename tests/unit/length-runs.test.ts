/**
 * How txt2embed cuts a batch's texts into runs (workers/tasks/embed-rows.ts): sorted by length, as
 * many per run as fit the padded-token budget, every text in exactly one run.
 */
import { describe, expect, test } from "bun:test";
import { lengthRuns } from "../../workers/tasks/embed-rows.ts";

/** Padded tokens of a run: its texts × its longest text (or the fixed length). */
const paddedTokens = (run: number[], lengths: number[], fixedLength?: number) => run.length * (fixedLength ?? Math.max(...run.map((index) => lengths[index]!)));

describe("lengthRuns", () => {
  test("texts of similar length share a run; short and long ones do not", () => {
    expect(lengthRuns([5, 100, 6, 90], 200)).toEqual([[0, 2], [3, 1]]);
  });

  test("every text is in exactly one run, runs go shortest first and stay within the budget", () => {
    let state = 7;
    const lengths = Array.from({ length: 97 }, () => (state = (state * 1103515245 + 12345) % 2147483648) % 240 + 3);
    const runs = lengthRuns(lengths, 512);
    expect(runs.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, index) => index));
    const longest = runs.map((run) => Math.max(...run.map((index) => lengths[index]!)));
    const shortest = runs.map((run) => Math.min(...run.map((index) => lengths[index]!)));
    for (let index = 1; index < runs.length; index++) expect(shortest[index]!).toBeGreaterThanOrEqual(longest[index - 1]!);
    for (const run of runs) expect(run.length === 1 || paddedTokens(run, lengths) <= 512).toBe(true);
    // Far less padding than one run padded to the longest text.
    const padding = runs.reduce((sum, run) => sum + paddedTokens(run, lengths), 0) - lengths.reduce((a, b) => a + b, 0);
    expect(padding).toBeLessThan(0.2 * (lengths.length * Math.max(...lengths) - lengths.reduce((a, b) => a + b, 0)));
  });

  test("a text longer than the budget runs alone", () => {
    expect(lengthRuns([600, 10, 700], 512)).toEqual([[1], [0], [2]]);
  });

  test("with a fixed sequence length, runs hold budget / length texts", () => {
    const runs = lengthRuns([3, 4, 5, 6, 7], 256, 128);
    expect(runs).toEqual([[0, 1], [2, 3], [4]]);
    expect(lengthRuns([3, 4], 100, 128)).toEqual([[0], [1]]);
  });
});
