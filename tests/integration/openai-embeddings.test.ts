/**
 * The OpenAI-compatible routes through the official `openai` npm package, in process (its `fetch`
 * calls `app.handle`), over the real core: embeddings equal the independent reference within 1e-5 as
 * floats, as base64 and as the SDK's default (base64 decoded by the SDK); token-array input; the
 * `dimensions` cut; the model list; errors raise the SDK's own exception classes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import OpenAI from "openai";
import { type TextEncoderFiles, writeTextEncoder, ENCODER_DIMENSIONS } from "../fixtures/text-encoder.ts";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { EmbeddingReference, maxDifference } from "../support/embedding-reference.ts";

/** Float32 pipelines in two orders of summation agree to well within this. */
const TOLERANCE = 1e-5;
const SENTENCES = ["hello", "The quick brown fox jumps over the lazy dog.", "a cat sat on the mat"];

let fixture: CoreFixture;
let files: TextEncoderFiles;
let reference: EmbeddingReference;
let client: OpenAI;

beforeAll(async () => {
  fixture = await startCore();
  const { app } = fixture.core;
  files = await writeTextEncoder(path.join(fixture.dataDir, "..", "encoder"));
  reference = await EmbeddingReference.open(files.model, files.tokenizer);
  const registered = await callApp(app, "POST", "/api/v1/models", {
    name: "enc",
    version: "1",
    task: "txt2embed",
    source: files.model,
    files: { "tokenizer.json": files.tokenizer },
    config: { maxBatchSize: 32, maxQueueDelayMicroseconds: 2000 },
  });
  expect(registered.status).toBe(201);
  client = new OpenAI({
    apiKey: "unused",
    baseURL: "http://modelmora.test/v1",
    maxRetries: 0,
    fetch: (input, init) => app.handle(new Request(input as string, init as RequestInit)),
  });
});
afterAll(async () => fixture?.[Symbol.asyncDispose]());

const expected = () => Promise.all(SENTENCES.map((sentence) => reference.embed(sentence)));

describe("OpenAI /v1/embeddings through the openai package", () => {
  test("float embeddings equal the reference within 1e-5, with index, model and usage", async () => {
    const answer = await client.embeddings.create({ model: "enc", input: SENTENCES, encoding_format: "float" });
    expect(answer.object).toBe("list");
    expect(answer.model).toBe("enc");
    expect(answer.data.map((entry) => [entry.object, entry.index])).toEqual(SENTENCES.map((_, index) => ["embedding", index]));
    expect(maxDifference(answer.data.map((entry) => entry.embedding), await expected())).toBeLessThan(TOLERANCE);
    const tokens = SENTENCES.reduce((total, sentence) => total + reference.ids(sentence).length, 0);
    expect(answer.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  test("base64 (little-endian float32) and the SDK's default (base64, decoded by the SDK) give the same vectors", async () => {
    const base64 = await client.embeddings.create({ model: "enc", input: SENTENCES, encoding_format: "base64" });
    const decoded = base64.data.map((entry) => {
      const bytes = Buffer.from(entry.embedding as unknown as string, "base64");
      return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    });
    expect(maxDifference(decoded, await expected())).toBeLessThan(TOLERANCE);
    const byDefault = await client.embeddings.create({ model: "enc", input: SENTENCES });
    expect(maxDifference(byDefault.data.map((entry) => Array.from(entry.embedding)), await expected())).toBeLessThan(TOLERANCE);
  });

  test("a single string, token arrays, and dimensions", async () => {
    const single = await client.embeddings.create({ model: "enc", input: SENTENCES[1]!, encoding_format: "float" });
    expect(maxDifference([single.data[0]!.embedding], [await reference.embed(SENTENCES[1]!)])).toBeLessThan(TOLERANCE);

    const ids = SENTENCES.map((sentence) => reference.ids(sentence));
    const fromIds = await client.embeddings.create({ model: "enc", input: ids, encoding_format: "float" });
    expect(maxDifference(fromIds.data.map((entry) => entry.embedding), await expected())).toBeLessThan(TOLERANCE);
    const oneIdList = await client.embeddings.create({ model: "enc", input: ids[0]!, encoding_format: "float" });
    expect(maxDifference([oneIdList.data[0]!.embedding], [await reference.embed(SENTENCES[0]!)])).toBeLessThan(TOLERANCE);

    const cut = await client.embeddings.create({ model: "enc", input: "a cat", dimensions: 3, encoding_format: "float" });
    const raw = (await reference.embed("a cat", { normalize: false })).slice(0, 3);
    const norm = Math.hypot(...raw);
    expect(maxDifference([cut.data[0]!.embedding], [raw.map((value) => value / norm)])).toBeLessThan(TOLERANCE);
  });

  test("GET /v1/models lists the registered models", async () => {
    const page = await client.models.list();
    expect(page.data.map((model) => [model.id, model.object, model.owned_by])).toEqual([["enc", "model", "modelmora"]]);
    expect(typeof page.data[0]!.created).toBe("number");
  });

  test("errors come in OpenAI's shape and raise the SDK's classes", async () => {
    const missing = await client.embeddings.create({ model: "nope", input: "hello", encoding_format: "float" }).catch((error) => error);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.status).toBe(404);
    expect(missing.code).toBe("model_not_found");
    expect(missing.type).toBe("invalid_request_error");

    const tooWide = await client.embeddings.create({ model: "enc", input: "hello", dimensions: ENCODER_DIMENSIONS + 1, encoding_format: "float" }).catch((error) => error);
    expect(tooWide).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tooWide.param).toBe("dimensions");

    const badIds = await client.embeddings.create({ model: "enc", input: [[1, 2, 99999]], encoding_format: "float" }).catch((error) => error);
    expect(badIds).toBeInstanceOf(OpenAI.BadRequestError);
    expect(badIds.param).toBe("input");

    const malformed = await fixture.core.app.handle(new Request("http://modelmora.test/v1/embeddings", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" }));
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: { message: "request body is not valid JSON", type: "invalid_request_error", param: "body", code: "invalid_input" } });
    const noInput = await callApp(fixture.core.app, "POST", "/v1/embeddings", { model: "enc" });
    expect(noInput.status).toBe(400);
    expect(noInput.body.error.param).toBe("input");
  });
});
