/**
 * txt2embed over `/api/v1/infer/{name}`, in process over the real core (real worker processes, real
 * onnxruntime, real database): answers equal an independent reference (tokenise, run onnxruntime on
 * each text alone, pool, normalise) within 1e-5, alone and batched across requests, and padding in a
 * mixed-length batch changes no row.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import type { ServerCore } from "../../src/server.ts";
import { type TextEncoderFiles, writeTextEncoder, ENCODER_DIMENSIONS } from "../fixtures/text-encoder.ts";
import { type AppAnswer, type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { EmbeddingReference, maxDifference } from "../support/embedding-reference.ts";
import { RUN_TOKEN_BUDGET } from "../../workers/tasks/embed-rows.ts";

/** Float32 pipelines in two orders of summation agree to well within this. */
const TOLERANCE = 1e-5;

const SENTENCES = [
  "hello",
  "The quick brown fox jumps over the lazy dog.",
  "a cat sat on the mat",
  "Hello, world!",
  "dog",
  "the lazy cat jumped over a quick brown dog , the fox sat on the mat !",
];

let fixture: CoreFixture;
let core: ServerCore;
let files: TextEncoderFiles;
let reference: EmbeddingReference;
let referenceWithoutTypes: EmbeddingReference;

const call = (method: string, route: string, body?: unknown): Promise<AppAnswer> => callApp(core.app, method, route, body);

beforeAll(async () => {
  fixture = await startCore();
  core = fixture.core;
  files = await writeTextEncoder(path.join(fixture.dataDir, "..", "encoder"));
  reference = await EmbeddingReference.open(files.model, files.tokenizer);
  referenceWithoutTypes = await EmbeddingReference.open(files.modelWithoutTokenTypes, files.tokenizer);
  const registrations = [
    { name: "enc", source: files.model, files: { "tokenizer.json": files.tokenizer }, config: { maxBatchSize: 64, maxQueueDelayMicroseconds: 200_000 } },
    { name: "enc-no-types", source: files.modelWithoutTokenTypes, files: { "tokenizer.json": files.tokenizer } },
    { name: "enc-cls", source: files.model, files: { "tokenizer.json": files.tokenizer, "1_Pooling/config.json": files.clsPooling } },
    { name: "enc-last", source: files.model, files: { "tokenizer.json": files.tokenizer }, config: { pooling: "last", normalize: false } },
    { name: "enc-short", source: files.model, files: { "tokenizer.json": files.shortTokenizer } },
  ];
  for (const registration of registrations) {
    const response = await call("POST", "/api/v1/models", { version: "1", task: "feature-extraction", ...registration });
    expect(response.status).toBe(201);
  }
});
afterAll(async () => fixture?.[Symbol.asyncDispose]());

describe("txt2embed over /api/v1/infer", () => {
  test("one text as input, text or texts equals the reference within 1e-5, with dimensions and token usage", async () => {
    const expected = [await reference.embed(SENTENCES[1]!)];
    for (const body of [{ input: SENTENCES[1] }, { input: [SENTENCES[1]] }, { text: SENTENCES[1] }, { texts: [SENTENCES[1]] }]) {
      const response = await call("POST", "/api/v1/infer/enc", body);
      expect(response.status).toBe(200);
      expect(response.body.dimensions).toBe(ENCODER_DIMENSIONS);
      expect(response.body.usage).toEqual({ tokens: reference.ids(SENTENCES[1]!).length });
      expect(maxDifference(response.body.embeddings, expected)).toBeLessThan(TOLERANCE);
      expect(Math.hypot(...response.body.embeddings[0])).toBeCloseTo(1, 5);
    }
  });

  test("padding in a mixed-length batch changes no row: several texts in one request equal each alone", async () => {
    const response = await call("POST", "/api/v1/infer/enc", { input: SENTENCES });
    expect(response.status).toBe(200);
    const expected = await Promise.all(SENTENCES.map((sentence) => reference.embed(sentence)));
    expect(maxDifference(response.body.embeddings, expected)).toBeLessThan(TOLERANCE);
    expect(response.body.usage.tokens).toBe(SENTENCES.reduce((total, sentence) => total + reference.ids(sentence).length, 0));
  });

  test("a batch over one run's token budget runs in several runs, by length; every row still equals its own reference, in order", async () => {
    const words = SENTENCES.join(" ").split(" ");
    // Lengths 1 to 60 words, long and short interleaved, so sorting by length reorders the rows.
    const texts = Array.from({ length: 24 }, (_, index) => Array.from({ length: 1 + ((index * 37) % 60) }, (__, word) => words[(index + word) % words.length]).join(" "));
    const tokens = texts.reduce((total, text) => total + reference.ids(text).length, 0);
    expect(tokens).toBeGreaterThan(2 * RUN_TOKEN_BUDGET);
    const response = await call("POST", "/api/v1/infer/enc", { input: texts });
    expect(response.status).toBe(200);
    const expected = await Promise.all(texts.map((text) => reference.embed(text)));
    expect(maxDifference(response.body.embeddings, expected)).toBeLessThan(TOLERANCE);
    expect(response.body.usage.tokens).toBe(tokens);
  });

  test("concurrent requests are batched into one run by the scheduler and each gets its own rows", async () => {
    const before = core.inference.queueStats();
    const batchesBefore = Object.entries(before).find(([key]) => key.startsWith("enc@"))?.[1].batches ?? 0;
    const requests = SENTENCES.map((_, index) => SENTENCES.slice(index, index + 1 + (index % 3)));
    const answers = await Promise.all(requests.map((texts) => call("POST", "/api/v1/infer/enc", { input: texts })));
    for (const [index, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      const expected = await Promise.all(requests[index]!.map((sentence) => reference.embed(sentence)));
      expect(maxDifference(answer.body.embeddings, expected)).toBeLessThan(TOLERANCE);
    }
    const stats = Object.entries(core.inference.queueStats()).find(([key]) => key.startsWith("enc@"))![1];
    // Six requests within the 200 ms window: fewer runs than requests (usually one).
    expect(stats.batches - batchesBefore).toBeLessThan(requests.length);
  });

  test("a model without token_type_ids, CLS pooling from 1_Pooling/config.json, and config pooling last without normalisation", async () => {
    const cases: [string, () => Promise<number[][]>][] = [
      ["enc-no-types", () => Promise.all(SENTENCES.map((sentence) => referenceWithoutTypes.embed(sentence, { withTokenTypes: false })))],
      ["enc-cls", () => Promise.all(SENTENCES.map((sentence) => reference.embed(sentence, { pooling: "cls" })))],
      ["enc-last", () => Promise.all(SENTENCES.map((sentence) => reference.embed(sentence, { pooling: "last", normalize: false })))],
    ];
    for (const [model, expected] of cases) {
      const response = await call("POST", `/api/v1/infer/${model}`, { input: SENTENCES });
      expect({ model, status: response.status }).toEqual({ model, status: 200 });
      expect(maxDifference(response.body.embeddings, await expected())).toBeLessThan(TOLERANCE);
    }
  });

  test("texts are truncated to the tokenizer's max_length, or refused with truncate: false", async () => {
    const long = SENTENCES[1]!;
    const response = await call("POST", "/api/v1/infer/enc-short", { input: [long, "dog"] });
    expect(response.status).toBe(200);
    const expected = [await reference.embed(long, { maxLength: 6 }), await reference.embed("dog")];
    expect(maxDifference(response.body.embeddings, expected)).toBeLessThan(TOLERANCE);
    expect(response.body.usage.tokens).toBe(6 + 3);

    const refused = await call("POST", "/api/v1/infer/enc-short", { input: [long], truncate: false });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe("INVALID_INPUT");
  });

  test("dimensions keeps the first N and normalises them; normalize: false gives the raw pooled vector", async () => {
    const raw = await reference.embed("a cat", { normalize: false });
    const cut = await call("POST", "/api/v1/infer/enc", { input: "a cat", dimensions: 4 });
    const norm = Math.hypot(...raw.slice(0, 4));
    expect(maxDifference(cut.body.embeddings, [raw.slice(0, 4).map((value) => value / norm)])).toBeLessThan(TOLERANCE);
    expect(cut.body.dimensions).toBe(4);
    const unnormalised = await call("POST", "/api/v1/infer/enc", { input: "a cat", normalize: false });
    expect(maxDifference(unnormalised.body.embeddings, [raw])).toBeLessThan(TOLERANCE);
  });

  test("wrong bodies are 400 INVALID_INPUT: text to a tensor model, tensors-less body, empty list, too many dimensions", async () => {
    const tensorModel = await call("POST", "/api/v1/models", { name: "plain", version: "1", task: "tensor", source: fixture.fixtures.add });
    expect(tensorModel.status).toBe(201);
    const cases: [string, unknown][] = [
      ["/api/v1/infer/plain", { input: "hello" }],
      ["/api/v1/infer/enc", {}],
      ["/api/v1/infer/enc", { input: [] }],
      ["/api/v1/infer/enc", { input: "hello", dimensions: 9 }],
      ["/api/v1/infer/enc", { input: "hello", texts: ["x"] }],
    ];
    for (const [route, body] of cases) {
      const response = await call("POST", route, body);
      expect({ body, status: response.status, code: response.body.code }).toEqual({ body, status: 400, code: "INVALID_INPUT" });
    }
  });
});
