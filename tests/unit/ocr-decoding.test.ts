/**
 * The pure parts of OCR: PaddleOCR's character list (blank first, space last), greedy CTC decoding
 * (repeats collapsed, blanks dropped, a blank between repeats keeps both), DB post-processing of a
 * probability map into unclipped boxes, and the top-to-bottom, then left-to-right, reading order.
 */
import { describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { boxesFromMap, sortedTopToBottom } from "../../workers/tasks/ocr-detect.ts";
import { characterList, decodeCtc } from "../../workers/tasks/ocr-recognize.ts";

/** One row per step: probability `p` on class `index`, the rest spread evenly. */
function steps(classes: number, picks: [index: number, p: number][]): Float32Array {
  const data = new Float32Array(picks.length * classes);
  picks.forEach(([index, p], step) => {
    data.fill((1 - p) / (classes - 1), step * classes, (step + 1) * classes);
    data[step * classes + index] = p;
  });
  return data;
}

describe("CTC decoding", () => {
  test("the character list is blank, charset.txt's lines (CRLF or LF), then a space", async () => {
    const directory = await mkdtemp(path.join(os.tmpdir(), "charset-"));
    try {
      const file = path.join(directory, "charset.txt");
      await writeFile(file, "a\r\nb\nc\n");
      const sha256 = new Bun.CryptoHasher("sha256").update(await Bun.file(file).bytes()).digest("hex");
      expect(await characterList({ path: file, sha256 })).toEqual(["", "a", "b", "c", " "]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test("repeats collapse, blanks drop, a blank between two equal characters keeps both; the confidence is the mean kept probability", () => {
    const characters = ["", "a", "b", " "];
    // a a _ a b b _ _ " " b  →  "aab b"
    const picks: [number, number][] = [[1, 0.9], [1, 0.8], [0, 0.99], [1, 0.7], [2, 0.6], [2, 0.95], [0, 0.9], [0, 0.9], [3, 0.5], [2, 0.4]];
    const decoded = decodeCtc(steps(4, picks), picks.length, 4, characters);
    expect(decoded.text).toBe("aab b");
    // Kept: the first a (0.9), the a after the blank (0.7), the first b (0.6), the space (0.5), the last b (0.4).
    expect(decoded.confidence).toBeCloseTo((0.9 + 0.7 + 0.6 + 0.5 + 0.4) / 5, 6);
  });

  test("spaces at either end are dropped; an all-blank line is empty with confidence 0", () => {
    const characters = ["", "a", " "];
    expect(decodeCtc(steps(3, [[2, 0.9], [1, 0.9], [2, 0.9]]), 3, 3, characters).text).toBe("a");
    expect(decodeCtc(steps(3, [[0, 0.9], [0, 0.9]]), 2, 3, characters)).toEqual({ text: "", confidence: 0 });
  });
});

describe("DB post-processing", () => {
  test("each confident region becomes its bounding box grown by area × 1.5 / perimeter; faint or tiny regions are dropped", () => {
    const width = 40, height = 30;
    const map = new Float32Array(width * height);
    const paint = (left: number, top: number, right: number, bottom: number, value: number) => {
      for (let y = top; y <= bottom; y++) for (let x = left; x <= right; x++) map[y * width + x] = value;
    };
    paint(2, 3, 21, 6, 0.9); // a 20 × 4 line
    paint(5, 15, 14, 20, 0.95); // a 10 × 6 line
    paint(30, 25, 35, 28, 0.4); // above the 0.3 threshold, below the 0.6 box score
    paint(36, 2, 37, 3, 0.9); // 2 × 2: smaller than the minimum side
    const boxes = boxesFromMap(map, width, height);
    expect(boxes).toHaveLength(2);
    const grown = (w: number, h: number) => (w * h * 1.5) / (2 * (w + h));
    expect(boxes[0]).toEqual({ left: 2 - grown(20, 4), top: 3 - grown(20, 4), right: 22 + grown(20, 4), bottom: 7 + grown(20, 4) });
    expect(boxes[1]).toEqual({ left: 5 - grown(10, 6), top: 15 - grown(10, 6), right: 15 + grown(10, 6), bottom: 21 + grown(10, 6) });
  });

  test("reading order: top to bottom, and left to right among boxes within 10 pixels of the same top", () => {
    const box = (left: number, top: number) => ({ left, top, right: left + 10, bottom: top + 5 });
    // (50, 100) is higher than (5, 104) but on the same line, so (5, 104) reads first.
    const sorted = sortedTopToBottom([box(5, 104), box(0, 200), box(50, 100), box(80, 0)]);
    expect(sorted).toEqual([box(80, 0), box(5, 104), box(50, 100), box(0, 200)]);
  });
});
