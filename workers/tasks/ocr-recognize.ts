/**
 * PaddleOCR text-line recognition (PP-OCRv4 rec) in the worker: preprocessing and CTC decoding as
 * PaddleOCR's `TextRecognizer` / `CTCLabelDecode` do them.
 *
 * Preprocessing: the line is resized to height 48 with its aspect ratio kept (bilinear), channels in
 * BGR order (PaddleOCR reads with OpenCV), scaled to [-1, 1] ((x / 255 − 0.5) / 0.5) and padded with
 * zeros on the right. PaddleOCR pads every line of a batch to the widest one; here each line's padded
 * width depends on that line alone (at least 320, PaddleOCR's base width, rounded up to a multiple of
 * 32) and lines of equal padded width run together. So a line gets the same answer alone or in any
 * batch, and a batch of similar lines still runs as one.
 *
 * Decoding: the character list is `blank` (index 0), then charset.txt one entry per line, then a
 * space (PaddleOCR's `use_space_char`); per time step the most probable index; repeats collapsed, blanks
 * dropped; the confidence is the mean probability of the characters kept (0 for an empty line).
 * Spaces at either end of the text are dropped (PaddleOCR keeps them: they come from the margins
 * around the glyphs and say nothing about the text).
 */
import * as ort from "onnxruntime-node";
import { readCompanion, type CompanionFile, memoized } from "./companion.ts";
import { type RgbImage, resized } from "./images.ts";

export const LINE_HEIGHT = 48;
/** PaddleOCR's rec_image_shape width: lines are padded to at least this. */
const BASE_WIDTH = 320;
const WIDTH_STEP = 32;
/** Wider lines are squeezed to this width (50 : 1), bounding the cost of one request. */
const MAX_WIDTH = LINE_HEIGHT * 50;

export interface RecognizedLine {
  text: string;
  confidence: number;
}

const charsets = memoized(async (key) => {
  const file = JSON.parse(key) as CompanionFile;
  const text = new TextDecoder().decode(await readCompanion("charset.txt", file));
  const lines = text.split("\n").map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line));
  if (lines.at(-1) === "") lines.pop();
  return ["", ...lines, " "];
});

/** The character list for a charset.txt: blank, the file's lines, space. */
export function characterList(file: CompanionFile): Promise<string[]> {
  return charsets(JSON.stringify({ path: file.path, sha256: file.sha256 }));
}

/** The width a line is resized to, and the width it is padded to. */
function lineWidths(image: RgbImage): { resizedWidth: number; paddedWidth: number } {
  const resizedWidth = Math.max(1, Math.min(MAX_WIDTH, Math.ceil((LINE_HEIGHT * image.width) / image.height)));
  const paddedWidth = Math.max(BASE_WIDTH, Math.ceil(resizedWidth / WIDTH_STEP) * WIDTH_STEP);
  return { resizedWidth, paddedWidth };
}

/** Writes `line` (already LINE_HEIGHT high) into `target` at row `index` of an NCHW batch of width `paddedWidth`, BGR, in [-1, 1]. */
function writeLine(target: Float32Array, index: number, line: RgbImage, paddedWidth: number): void {
  const plane = LINE_HEIGHT * paddedWidth;
  const base = index * 3 * plane;
  for (let y = 0; y < LINE_HEIGHT; y++) {
    for (let x = 0; x < line.width; x++) {
      const pixel = (y * line.width + x) * 3;
      const at = y * paddedWidth + x;
      for (let channel = 0; channel < 3; channel++) {
        // BGR: plane 0 takes the blue byte (RGB index 2).
        target[base + channel * plane + at] = (line.data[pixel + 2 - channel]! / 255 - 0.5) / 0.5;
      }
    }
  }
}

/** Greedy CTC decoding of one row of probabilities [steps, classes]. */
export function decodeCtc(probabilities: Float32Array, steps: number, classes: number, characters: string[]): RecognizedLine {
  let text = "";
  let sum = 0;
  let kept = 0;
  let previous = -1;
  for (let step = 0; step < steps; step++) {
    const row = probabilities.subarray(step * classes, (step + 1) * classes);
    let best = 0;
    for (let index = 1; index < classes; index++) if (row[index]! > row[best]!) best = index;
    if (best !== 0 && best !== previous) {
      text += characters[best] ?? "";
      sum += row[best]!;
      kept++;
    }
    previous = best;
  }
  return { text: text.trim(), confidence: kept === 0 ? 0 : sum / kept };
}

/** Recognises every line; lines of equal padded width share one run. */
export async function recognizeLines(session: ort.InferenceSession, charset: CompanionFile, lines: RgbImage[]): Promise<RecognizedLine[]> {
  const characters = await characterList(charset);
  const prepared = await Promise.all(
    lines.map(async (line) => {
      const { resizedWidth, paddedWidth } = lineWidths(line);
      return { line: await resized(line, resizedWidth, LINE_HEIGHT), paddedWidth };
    }),
  );
  const groups = new Map<number, number[]>();
  prepared.forEach(({ paddedWidth }, index) => groups.set(paddedWidth, [...(groups.get(paddedWidth) ?? []), index]));
  const answers: RecognizedLine[] = new Array(lines.length);
  for (const [paddedWidth, indices] of groups) {
    const input = new Float32Array(indices.length * 3 * LINE_HEIGHT * paddedWidth);
    indices.forEach((lineIndex, row) => writeLine(input, row, prepared[lineIndex]!.line, paddedWidth));
    const feed = new ort.Tensor("float32", input, [indices.length, 3, LINE_HEIGHT, paddedWidth]);
    const results = await session.run({ [session.inputNames[0]!]: feed });
    feed.dispose();
    const output = results[session.outputNames[0]!]!;
    const [, steps, classes] = output.dims as [number, number, number];
    if (classes !== characters.length) {
      throw new Error(`the recogniser has ${classes} classes but charset.txt gives ${characters.length} (blank + ${characters.length - 2} + space)`);
    }
    const data = output.data as Float32Array;
    indices.forEach((lineIndex, row) => {
      answers[lineIndex] = decodeCtc(data.subarray(row * steps * classes, (row + 1) * steps * classes), steps, classes, characters);
    });
    output.dispose();
  }
  return answers;
}
