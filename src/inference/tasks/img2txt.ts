/**
 * img2txt (OCR) on the server side: shapes the worker's answer (workers/tasks/img2txt.ts) into one
 * result per image. A model without det.onnx reads each image as one text line (`{ text, confidence }`);
 * with det.onnx each image is a page (`{ text, lines: [{ text, confidence, box }] }`, lines top to
 * bottom; the page's text is their texts, a space between boxes side by side on one row, where the
 * detector found words far apart, and a newline between rows).
 */
import type { WireTensor } from "../../../workers/protocol.ts";
import { type ImageRequest, outputOf, runImageTask } from "./image-request.ts";
import type { InferenceService } from "../service.ts";

/** A box's corners, clockwise from the top left, in the image's pixels. */
export type Corners = [[number, number], [number, number], [number, number], [number, number]];

export interface OcrLine {
  text: string;
  confidence: number;
  box: Corners;
}

/** One image's reading: a line (no detector) or a page (with its lines). */
export type OcrReading = { text: string; confidence: number } | { text: string; lines: OcrLine[] };

export interface OcrResult {
  model: string;
  version: string;
  results: OcrReading[];
}

/**
 * Reads the text in each image.
 *
 * @example
 * const { results } = await readText(inference, { model: "ocr", images: [png], priority: 3 });
 */
export async function readText(inference: InferenceService, request: ImageRequest): Promise<OcrResult> {
  const { target, outputs } = await runImageTask(inference, request, ["img2txt"]);
  return { model: target.name, version: target.version, results: ocrReadings(outputs) };
}

/** One reading per image from the worker's img2txt answer. */
export function ocrReadings(outputs: WireTensor[]): OcrReading[] {
  const texts = outputOf(outputs, "text").data as string[];
  const confidences = outputOf(outputs, "confidence").data as Float32Array;
  const counts = outputs.find((output) => output.name === "line_counts")?.data as Int32Array | undefined;
  if (!counts) {
    return texts.map((text, index) => ({ text, confidence: confidences[index]! }));
  }
  const boxes = outputOf(outputs, "boxes").data as Int32Array;
  let next = 0;
  return Array.from(counts, (count) => {
    const lines = Array.from({ length: count }, (_, offset): OcrLine => {
      const index = next + offset;
      const [left, top, right, bottom] = boxes.subarray(index * 4, index * 4 + 4);
      return { text: texts[index]!, confidence: confidences[index]!, box: [[left!, top!], [right!, top!], [right!, bottom!], [left!, bottom!]] };
    });
    next += count;
    return { text: pageText(lines), lines };
  });
}

/**
 * The lines' texts in reading order: a space before a box that lies to the right of the previous one
 * on the same row (its vertical middle within the previous box), a newline before any other.
 */
function pageText(lines: OcrLine[]): string {
  return lines
    .map((line, index) => {
      const previous = lines[index - 1];
      if (!previous) return line.text;
      const [[left, top], , [, bottom]] = line.box;
      const [, [previousRight, previousTop], [, previousBottom]] = previous.box;
      const middle = (top + bottom) / 2;
      const sameRow = middle >= previousTop && middle <= previousBottom && left >= previousRight;
      return (sameRow ? " " : "\n") + line.text;
    })
    .join("");
}
