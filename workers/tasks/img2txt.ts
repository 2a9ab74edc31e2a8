/**
 * img2txt (OCR) in the worker, for a whole batch of requests: decode every image (sharp), then either
 * recognise each as one text line, or, with det.onnx, find the lines on each page and recognise all of
 * them (every page of the batch) together. See ocr-recognize.ts and ocr-detect.ts.
 */
import type * as ort from "onnxruntime-node";
import type { ImageTaskSettings, WireTensor } from "../protocol.ts";
import { cropped, type RgbImage } from "./images.ts";
import { detectLines, detector, type Box } from "./ocr-detect.ts";
import { recognizeLines } from "./ocr-recognize.ts";
import { decodeItems, type ImageItem } from "./image-items.ts";

/** PaddleOCR's drop_score: lines found on a page and read with less confidence are left out. */
const DROP_CONFIDENCE = 0.5;
/**
 * A found line is cut out with this much more of the page on every side, as a fraction of its box's
 * height. The detector's boxes hug the glyphs; so cropped, the recogniser reads the gaps between words
 * as the inside of one word ("HelloModelMora42" for "Hello ModelMora 42", at 32 and 48 px). With
 * 0.2 × height around the box, the spaces come back (rendered pages of 24, 32 and 48 px, checked by
 * hand and in tests/integration/img2txt.test.ts), while 0.5 starts to read neighbours' pixels as glyphs.
 */
const CROP_MARGIN_RATIO = 0.2;

/** Runs one img2txt batch; answers one list of tensors per item, in order. */
export async function runImg2Txt(session: ort.InferenceSession, items: ImageItem[]): Promise<WireTensor[][]> {
  const settings = items[0]!.settings;
  const charset = settings.files["charset.txt"];
  if (!charset) throw new Error('img2txt needs a companion file "charset.txt"');
  const { answers, decoded } = await decodeItems(items);
  const det = settings.files["det.onnx"];
  if (!det) {
    const lines = await recognizeLines(session, charset, decoded.flatMap((images) => images ?? []));
    let next = 0;
    return items.map((item, index) => {
      if (answers[index]) return answers[index]!;
      const mine = lines.slice(next, next + item.images.length);
      next += item.images.length;
      return [
        { name: "text", datatype: "BYTES", shape: [mine.length], data: mine.map((line) => line.text) },
        { name: "confidence", datatype: "FP32", shape: [mine.length], data: Float32Array.from(mine, (line) => line.confidence) },
      ];
    });
  }
  return readPages(session, await detector(det), charset, items, answers, decoded);
}

/** The part of `page` the recogniser reads for `box`: the box and a margin around it, within the page. */
function lineCrop(page: RgbImage, box: Box): RgbImage {
  const margin = Math.round((box.bottom - box.top) * CROP_MARGIN_RATIO);
  const left = Math.max(0, box.left - margin);
  const top = Math.max(0, box.top - margin);
  const right = Math.min(page.width, box.right + margin);
  const bottom = Math.min(page.height, box.bottom + margin);
  return cropped(page, left, top, right - left, bottom - top);
}

async function readPages(
  recognizer: ort.InferenceSession,
  detection: ort.InferenceSession,
  charset: ImageTaskSettings["files"][string],
  items: ImageItem[],
  answers: (WireTensor[] | undefined)[],
  decoded: (RgbImage[] | undefined)[],
): Promise<WireTensor[][]> {
  // Every page's boxes first, then all lines of all pages through the recogniser together.
  const pages: { item: number; boxes: Box[] }[] = [];
  const crops: RgbImage[] = [];
  for (const [item, images] of decoded.entries()) {
    for (const page of images ?? []) {
      const boxes = await detectLines(detection, page);
      pages.push({ item, boxes });
      for (const box of boxes) crops.push(lineCrop(page, box));
    }
  }
  const lines = await recognizeLines(recognizer, charset, crops);
  let next = 0;
  const perItem = items.map(() => ({ texts: [] as string[], confidences: [] as number[], boxes: [] as number[], counts: [] as number[] }));
  for (const { item, boxes } of pages) {
    const answer = perItem[item]!;
    let count = 0;
    for (const box of boxes) {
      const line = lines[next++]!;
      if (line.confidence < DROP_CONFIDENCE || line.text.trim() === "") continue;
      answer.texts.push(line.text);
      answer.confidences.push(line.confidence);
      answer.boxes.push(box.left, box.top, box.right, box.bottom);
      count++;
    }
    answer.counts.push(count);
  }
  return items.map((_, index) => {
    if (answers[index]) return answers[index]!;
    const { texts, confidences, boxes, counts } = perItem[index]!;
    return [
      { name: "text", datatype: "BYTES", shape: [texts.length], data: texts },
      { name: "confidence", datatype: "FP32", shape: [texts.length], data: Float32Array.from(confidences) },
      { name: "boxes", datatype: "INT32", shape: [texts.length, 4], data: Int32Array.from(boxes) },
      { name: "line_counts", datatype: "INT32", shape: [counts.length], data: Int32Array.from(counts) },
    ];
  });
}

