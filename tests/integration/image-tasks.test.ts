/**
 * img2embed and img2label over `/api/v1/infer/{name}` with a generated image model and its Hugging
 * Face files (preprocessor_config.json, config.json id2label), in process over the real core: answers
 * equal an independent reference (decode, resize, rescale and normalise here, run onnxruntime directly,
 * softmax), alone and batched; a PNG, a JPEG and a WebP of one picture agree within tolerance; a
 * decompression bomb is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import type { ServerCore } from "../../src/server.ts";
import { IMAGE_LABELS, IMAGE_SIZE, type ImageModelFiles, PREPROCESSOR_CONFIG, writeImageModel } from "../fixtures/image-model.ts";
import { type AppAnswer, type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { pngDeclaring } from "../support/image-bomb.ts";

/** The server and the reference run the same float32 arithmetic in different orders. */
const TOLERANCE = 1e-5;
/** JPEG (quality 100) against PNG of the same picture, after downscaling to 8×8. */
const FORMAT_TOLERANCE = 0.02;

let fixture: CoreFixture;
let core: ServerCore;
let files: ImageModelFiles;
let reference: ort.InferenceSession;
let pictures: Buffer[];

const call = (route: string, body: unknown): Promise<AppAnswer> => callApp(core.app, "POST", route, body);
const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/** A 40 × 30 picture: a gradient with a coloured square, different per `seed`. */
async function picture(seed: number): Promise<Buffer> {
  const width = 40, height = 30;
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      const inSquare = x > 5 + seed * 5 && x < 20 + seed * 5 && y > 8 && y < 22;
      pixels[at] = inSquare ? 230 : (x * 6 + seed * 40) % 256;
      pixels[at + 1] = inSquare ? 40 * seed : y * 8;
      pixels[at + 2] = (x * y + seed * 90) % 256;
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** The model's outputs for `png`, computed here: sharp resize, then the preprocessor config's arithmetic, then onnxruntime. */
async function referenceOutputs(png: Buffer): Promise<{ embedding: number[]; probabilities: number[] }> {
  const rgb = await sharp(png).removeAlpha().resize(IMAGE_SIZE, IMAGE_SIZE, { fit: "fill", kernel: "linear" }).raw().toBuffer();
  const plane = IMAGE_SIZE * IMAGE_SIZE;
  const pixels = new Float32Array(3 * plane);
  for (let channel = 0; channel < 3; channel++) {
    for (let at = 0; at < plane; at++) {
      pixels[channel * plane + at] = (rgb[at * 3 + channel]! * PREPROCESSOR_CONFIG.rescale_factor - PREPROCESSOR_CONFIG.image_mean[channel]!) / PREPROCESSOR_CONFIG.image_std[channel]!;
    }
  }
  const results = await reference.run({ pixel_values: new ort.Tensor("float32", pixels, [1, 3, IMAGE_SIZE, IMAGE_SIZE]) });
  const logits = Array.from(results.logits!.data as Float32Array);
  const exponentials = logits.map((value) => Math.exp(value));
  const sum = exponentials.reduce((total, value) => total + value, 0);
  return { embedding: Array.from(results.image_embeds!.data as Float32Array), probabilities: exponentials.map((value) => value / sum) };
}

function maxDifference(a: number[], b: number[]): number {
  return Math.max(...a.map((value, index) => Math.abs(value - b[index]!)));
}

beforeAll(async () => {
  fixture = await startCore();
  core = fixture.core;
  files = await writeImageModel(path.join(fixture.dataDir, "..", "image-model"));
  reference = await ort.InferenceSession.create(files.model);
  const companions = { "preprocessor_config.json": files.preprocessorConfig, "config.json": files.config };
  const batching = { maxBatchSize: 16, maxQueueDelayMicroseconds: 100_000 };
  for (const registration of [
    { name: "img-embed", task: "image-feature-extraction", config: batching },
    { name: "img-label", task: "image-classification", config: batching },
  ]) {
    const response = await callApp(core.app, "POST", "/api/v1/models", { version: "1", source: files.model, files: companions, ...registration });
    expect(response.status).toBe(201);
    expect(response.body.task).toBe(registration.name === "img-embed" ? "img2embed" : "img2label");
  }
  pictures = await Promise.all([0, 1, 2].map(picture));
});
afterAll(async () => fixture?.[Symbol.asyncDispose]());

describe("img2embed", () => {
  test("one image's embedding equals the reference within 1e-5", async () => {
    const response = await call("/api/v1/infer/img-embed", { image: base64(pictures[0]!) });
    expect(response.status).toBe(200);
    expect(response.body.dimensions).toBe(8);
    expect(maxDifference(response.body.embedding, (await referenceOutputs(pictures[0]!)).embedding)).toBeLessThan(TOLERANCE);
  });

  test("several images in one request, and concurrent requests, each equal the reference", async () => {
    const expected = await Promise.all(pictures.map(async (png) => (await referenceOutputs(png)).embedding));
    const batched = await call("/api/v1/infer/img-embed", { images: pictures.map(base64) });
    expect(batched.status).toBe(200);
    batched.body.results.forEach((result: { embedding: number[] }, index: number) => expect(maxDifference(result.embedding, expected[index]!)).toBeLessThan(TOLERANCE));
    const concurrent = await Promise.all(pictures.map((png) => call("/api/v1/infer/img-embed", { image: base64(png) })));
    concurrent.forEach((answer, index) => expect(maxDifference(answer.body.embedding, expected[index]!)).toBeLessThan(TOLERANCE));
  });

  test("normalize: true answers unit vectors", async () => {
    const response = await call("/api/v1/infer/img-embed", { image: base64(pictures[1]!), normalize: true });
    expect(Math.hypot(...response.body.embedding)).toBeCloseTo(1, 5);
  });

  test("a PNG, a JPEG and a WebP of the same picture give the same embedding within tolerance", async () => {
    const jpeg = await sharp(pictures[2]!).jpeg({ quality: 100, chromaSubsampling: "4:4:4" }).toBuffer();
    const webp = await sharp(pictures[2]!).webp({ lossless: true }).toBuffer();
    const answers = await Promise.all([pictures[2]!, jpeg, webp].map((bytes) => call("/api/v1/infer/img-embed", { image: base64(bytes) })));
    for (const answer of answers.slice(1)) expect(maxDifference(answer.body.embedding, answers[0]!.body.embedding)).toBeLessThan(FORMAT_TOLERANCE);
    expect(maxDifference(answers[2]!.body.embedding, answers[0]!.body.embedding)).toBeLessThan(TOLERANCE); // lossless
  });
});

describe("img2label", () => {
  test("top-k labels from config.json id2label with softmax scores, equal to the reference, best first", async () => {
    for (const png of pictures) {
      const { probabilities } = await referenceOutputs(png);
      const expected = probabilities.map((score, id) => ({ label: IMAGE_LABELS[id]!, score })).sort((a, b) => b.score - a.score).slice(0, 3);
      const response = await call("/api/v1/infer/img-label", { image: base64(png), top_k: 3 });
      expect(response.status).toBe(200);
      expect(response.body.labels.map((entry: { label: string }) => entry.label)).toEqual(expected.map((entry) => entry.label));
      expect(maxDifference(response.body.labels.map((entry: { score: number }) => entry.score), expected.map((entry) => entry.score))).toBeLessThan(TOLERANCE);
    }
  });

  test("without top_k all five labels come back, scores summing to 1", async () => {
    const response = await call("/api/v1/infer/img-label", { images: [base64(pictures[0]!)] });
    const [result] = response.body.results;
    expect(result.labels.map((entry: { label: string }) => entry.label).sort()).toEqual([...IMAGE_LABELS].sort());
    expect(result.labels.reduce((total: number, entry: { score: number }) => total + entry.score, 0)).toBeCloseTo(1, 5);
  });

  test("a PNG, a JPEG and a WebP of the same picture give the same top label and scores within tolerance", async () => {
    const jpeg = await sharp(pictures[1]!).jpeg({ quality: 100, chromaSubsampling: "4:4:4" }).toBuffer();
    const webp = await sharp(pictures[1]!).webp({ quality: 100 }).toBuffer();
    const answers = await Promise.all(
      [["image/png", pictures[1]!], ["image/jpeg", jpeg], ["image/webp", webp]].map(async ([type, bytes]) => {
        const response = await core.app.handle(new Request("http://localhost/api/v1/infer/img-label", { method: "POST", headers: { "content-type": type as string }, body: bytes as Buffer }));
        expect(response.status).toBe(200);
        return ((await response.json()) as { labels: { label: string; score: number }[] }).labels;
      }),
    );
    for (const labels of answers.slice(1)) {
      expect(labels[0]!.label).toBe(answers[0]![0]!.label);
      expect(Math.abs(labels[0]!.score - answers[0]![0]!.score)).toBeLessThan(FORMAT_TOLERANCE);
    }
  });

  test("a decompression bomb is refused with 400 before decoding", async () => {
    const response = await call("/api/v1/infer/img-label", { image: base64(await pngDeclaring(30_000, 30_000)) });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe("INVALID_INPUT");
    expect(response.body.error).toContain("more than the limit");
  });
});
