/**
 * PaddleOCR text detection (PP-OCRv4 det, a DB model) in the worker, as PaddleOCR's `TextDetector`
 * and `DBPostProcess` do it, with axis-aligned boxes:
 * - the page is resized so its longer side is at most 960 and both sides are multiples of 32,
 *   channels BGR, normalised with ImageNet's mean and std (PaddleOCR's NormalizeImage);
 * - the probability map is thresholded at 0.3; each connected region (8-neighbourhood) of the bitmap
 *   becomes its bounding box, kept when its mean probability is at least 0.6 and its sides at least 3;
 * - the box is grown by the DB unclip distance (area × 1.5 / perimeter), scaled back to the page,
 *   and clamped to it;
 * - boxes are ordered top to bottom, and left to right within 10 pixels of the same height.
 * Rotated text is not straightened (PaddleOCR's minimum-area rectangles and perspective crop are not
 * reproduced); lines read horizontally, which is what the recogniser expects anyway.
 */
import * as ort from "onnxruntime-node";
import { readCompanion, type CompanionFile, memoized } from "./companion.ts";
import { type RgbImage, resized } from "./images.ts";

const LIMIT_SIDE = 960;
const BITMAP_THRESHOLD = 0.3;
const BOX_THRESHOLD = 0.6;
const UNCLIP_RATIO = 1.5;
const MIN_SIDE = 3;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const SAME_ROW_PIXELS = 10;

/** A box on the page: left, top, right, bottom (exclusive), in pixels. */
export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

const detectors = memoized(async (key) => {
  const file = JSON.parse(key) as CompanionFile;
  return ort.InferenceSession.create(await readCompanion("det.onnx", file));
});

/** The detector session for det.onnx, opened once per worker. */
export function detector(file: CompanionFile): Promise<ort.InferenceSession> {
  return detectors(JSON.stringify({ path: file.path, sha256: file.sha256 }));
}

/** The text boxes on `page`, top to bottom. */
export async function detectLines(session: ort.InferenceSession, page: RgbImage): Promise<Box[]> {
  const ratio = Math.max(page.width, page.height) > LIMIT_SIDE ? LIMIT_SIDE / Math.max(page.width, page.height) : 1;
  const width = Math.max(32, Math.round((page.width * ratio) / 32) * 32);
  const height = Math.max(32, Math.round((page.height * ratio) / 32) * 32);
  const input = normalised(await resized(page, width, height));
  const feed = new ort.Tensor("float32", input, [1, 3, height, width]);
  const results = await session.run({ [session.inputNames[0]!]: feed });
  feed.dispose();
  const map = results[session.outputNames[0]!]!;
  const probabilities = map.data as Float32Array;
  const boxes = boxesFromMap(probabilities, width, height).map((box) => scaled(box, page.width / width, page.height / height, page));
  map.dispose();
  return sortedTopToBottom(boxes.filter((box) => box.right - box.left >= 1 && box.bottom - box.top >= 1));
}

function normalised(image: RgbImage): Float32Array {
  const plane = image.width * image.height;
  const out = new Float32Array(3 * plane);
  for (let at = 0; at < plane; at++) {
    for (let channel = 0; channel < 3; channel++) {
      out[channel * plane + at] = (image.data[at * 3 + 2 - channel]! / 255 - MEAN[channel]!) / STD[channel]!;
    }
  }
  return out;
}

/** DB post-processing on the probability map: regions → scored, unclipped boxes (map coordinates). */
export function boxesFromMap(probabilities: Float32Array, width: number, height: number): Box[] {
  const labels = new Int32Array(width * height);
  const boxes: Box[] = [];
  const stack: number[] = [];
  let next = 0;
  for (let start = 0; start < labels.length; start++) {
    if (labels[start] !== 0 || probabilities[start]! <= BITMAP_THRESHOLD) continue;
    next++;
    let left = width, top = height, right = -1, bottom = -1;
    labels[start] = next;
    stack.push(start);
    while (stack.length > 0) {
      const at = stack.pop()!;
      const x = at % width;
      const y = (at - x) / width;
      left = Math.min(left, x); right = Math.max(right, x); top = Math.min(top, y); bottom = Math.max(bottom, y);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const neighbour = ny * width + nx;
          if (labels[neighbour] === 0 && probabilities[neighbour]! > BITMAP_THRESHOLD) {
            labels[neighbour] = next;
            stack.push(neighbour);
          }
        }
      }
    }
    const boxWidth = right - left + 1, boxHeight = bottom - top + 1;
    if (Math.min(boxWidth, boxHeight) < MIN_SIDE) continue;
    if (meanInside(probabilities, width, left, top, right, bottom) < BOX_THRESHOLD) continue;
    const distance = (boxWidth * boxHeight * UNCLIP_RATIO) / (2 * (boxWidth + boxHeight));
    if (Math.min(boxWidth, boxHeight) + 2 * distance < MIN_SIDE + 2) continue;
    boxes.push({ left: left - distance, top: top - distance, right: right + 1 + distance, bottom: bottom + 1 + distance });
  }
  return boxes;
}

function meanInside(probabilities: Float32Array, width: number, left: number, top: number, right: number, bottom: number): number {
  let sum = 0;
  for (let y = top; y <= bottom; y++) for (let x = left; x <= right; x++) sum += probabilities[y * width + x]!;
  return sum / ((right - left + 1) * (bottom - top + 1));
}

function scaled(box: Box, scaleX: number, scaleY: number, page: RgbImage): Box {
  const clamp = (value: number, limit: number) => Math.min(limit, Math.max(0, Math.round(value)));
  return {
    left: clamp(box.left * scaleX, page.width),
    top: clamp(box.top * scaleY, page.height),
    right: clamp(box.right * scaleX, page.width),
    bottom: clamp(box.bottom * scaleY, page.height),
  };
}

/** Top to bottom; boxes within SAME_ROW_PIXELS of each other's top read left to right (PaddleOCR's sorted_boxes). */
export function sortedTopToBottom(boxes: Box[]): Box[] {
  const sorted = [...boxes].sort((a, b) => a.top - b.top || a.left - b.left);
  for (let index = 0; index < sorted.length - 1; index++) {
    for (let back = index; back >= 0; back--) {
      const [a, b] = [sorted[back]!, sorted[back + 1]!];
      if (Math.abs(b.top - a.top) < SAME_ROW_PIXELS && b.left < a.left) [sorted[back], sorted[back + 1]] = [b, a];
      else break;
    }
  }
  return sorted;
}
