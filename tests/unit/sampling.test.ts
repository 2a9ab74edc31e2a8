/**
 * Pins token choice against hand-computed distributions: greedy is the argmax; the repetition
 * penalty divides positive and multiplies negative logits of seen ids; top-k and top-p cut the
 * candidates before the draw; draws follow the softmax (checked by frequency over many seeds).
 */
import { describe, expect, test } from "bun:test";
import { argmax, chooseToken, seededRandom } from "../../workers/generation/sampling.ts";

const GREEDY = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 };

describe("chooseToken", () => {
  test("greedy takes the argmax; the repetition penalty can move it", () => {
    expect(chooseToken(Float32Array.of(1, 3, 2), GREEDY, [], Math.random)).toBe(1);
    // 3 / 2 = 1.5 < 2: the seen id 1 loses to id 2; a negative seen logit gets more negative.
    const logits = Float32Array.of(-1, 3, 2);
    expect(chooseToken(logits, { ...GREEDY, repetitionPenalty: 2 }, [1, 0], Math.random)).toBe(2);
    expect(Array.from(logits)).toEqual([-2, 1.5, 2]);
  });

  test("top-k 1 and a tiny top-p both leave only the most likely token", () => {
    const random = seededRandom(1);
    for (let draw = 0; draw < 50; draw++) {
      expect(chooseToken(Float32Array.of(0.5, 0.4, 0.6), { temperature: 1, topK: 1, topP: 1, repetitionPenalty: 1 }, [], random)).toBe(2);
      expect(chooseToken(Float32Array.of(0.5, 0.4, 0.6), { temperature: 1, topK: 0, topP: 0.01, repetitionPenalty: 1 }, [], random)).toBe(2);
    }
  });

  test("draws follow the softmax of logits / temperature", () => {
    const logits = [Math.log(0.2), Math.log(0.5), Math.log(0.3)];
    const counts = [0, 0, 0];
    const random = seededRandom(42);
    const draws = 20_000;
    for (let draw = 0; draw < draws; draw++) counts[chooseToken(Float32Array.from(logits), { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 }, [], random)]!++;
    // Binomial standard deviation at n = 20000 is under 0.004; 0.015 is over 3.5 of them.
    expect(Math.abs(counts[0]! / draws - 0.2)).toBeLessThan(0.015);
    expect(Math.abs(counts[1]! / draws - 0.5)).toBeLessThan(0.015);
    expect(Math.abs(counts[2]! / draws - 0.3)).toBeLessThan(0.015);
  });

  test("the same seed gives the same draws", () => {
    const a = seededRandom(9);
    const b = seededRandom(9);
    expect(Array.from({ length: 5 }, a)).toEqual(Array.from({ length: 5 }, b));
    expect(argmax(Float32Array.of(2, 2, 1))).toBe(0);
  });
});
