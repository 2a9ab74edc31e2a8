/**
 * The Hugging Face TEI routes, in process over the real core: `/embed` equals the independent
 * reference within 1e-5 (normalised by default, raw with normalize: false), refuses a too-long input
 * unless truncate is true, as TEI does; `/tokenize` gives the tokenizer's own ids and tokens; the
 * model is the only txt2embed one unless named; errors come as `{ error, error_type }`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { type TextEncoderFiles, writeTextEncoder } from "../fixtures/text-encoder.ts";
import { type AppAnswer, type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { EmbeddingReference, maxDifference } from "../support/embedding-reference.ts";

/** Float32 pipelines in two orders of summation agree to well within this. */
const TOLERANCE = 1e-5;
const SENTENCES = ["hello", "The quick brown fox jumps over the lazy dog.", "a cat sat on the mat"];

let fixture: CoreFixture;
let files: TextEncoderFiles;
let reference: EmbeddingReference;

const call = (route: string, body: unknown): Promise<AppAnswer> => callApp(fixture.core.app, "POST", route, body);

beforeAll(async () => {
  fixture = await startCore();
  files = await writeTextEncoder(path.join(fixture.dataDir, "..", "encoder"));
  reference = await EmbeddingReference.open(files.model, files.tokenizer);
  const registered = await callApp(fixture.core.app, "POST", "/api/v1/models", {
    name: "enc",
    version: "1",
    task: "txt2embed",
    source: files.model,
    files: { "tokenizer.json": files.tokenizer },
    config: { maxSequenceLength: 8, maxBatchSize: 16 },
  });
  expect(registered.status).toBe(201);
});
afterAll(async () => fixture?.[Symbol.asyncDispose]());

describe("TEI /embed and /tokenize", () => {
  test("/embed answers one normalised vector per input, equal to the reference within 1e-5", async () => {
    const short = SENTENCES.filter((sentence) => reference.ids(sentence).length <= 8);
    const many = await call("/embed", { inputs: short });
    expect(many.status).toBe(200);
    expect(maxDifference(many.body, await Promise.all(short.map((sentence) => reference.embed(sentence))))).toBeLessThan(TOLERANCE);
    const one = await call("/embed", { inputs: "hello", normalize: false });
    expect(maxDifference(one.body, [await reference.embed("hello", { normalize: false })])).toBeLessThan(TOLERANCE);
    const named = await callApp(fixture.core.app, "POST", "/embed?model=enc", { inputs: "hello" });
    expect(maxDifference(named.body, [await reference.embed("hello")])).toBeLessThan(TOLERANCE);
  });

  test("a too-long input is 413 validation unless truncate is true, as TEI answers", async () => {
    const long = SENTENCES[1]!;
    const refused = await call("/embed", { inputs: long });
    expect(refused.status).toBe(413);
    expect(refused.body).toEqual({ error: expect.stringContaining("truncate is false"), error_type: "validation" });
    const cut = await call("/embed", { inputs: long, truncate: true });
    expect(cut.status).toBe(200);
    expect(maxDifference(cut.body, [await reference.embed(long, { maxLength: 8 })])).toBeLessThan(TOLERANCE);
  });

  test("/tokenize gives the tokenizer's ids and tokens, special ones marked, with or without special tokens", async () => {
    const answer = await call("/tokenize", { inputs: SENTENCES });
    expect(answer.status).toBe(200);
    SENTENCES.forEach((sentence, index) => {
      const encoding = reference.tokenizer.encode(sentence);
      expect(answer.body[index]).toEqual(
        encoding.ids.map((id, position) => ({ id, text: encoding.tokens[position], special: id < 4, start: null, stop: null })),
      );
    });
    const bare = await call("/tokenize", { inputs: "hello world", add_special_tokens: false });
    expect(bare.body[0].map((token: { text: string }) => token.text)).toEqual(["hello", "world"]);
  });

  test("errors come as { error, error_type }: empty inputs 400, unknown model 404, no model named among several", async () => {
    const empty = await call("/embed", { inputs: [] });
    expect({ status: empty.status, body: empty.body }).toEqual({ status: 400, body: { error: "`inputs` cannot be empty", error_type: "empty" } });
    const unknown = await callApp(fixture.core.app, "POST", "/embed?model=nope", { inputs: "x" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error_type).toBe("validation");
    const second = await callApp(fixture.core.app, "POST", "/api/v1/models", { name: "enc2", version: "1", task: "txt2embed", source: files.model, files: { "tokenizer.json": files.tokenizer } });
    expect(second.status).toBe(201);
    const ambiguous = await call("/embed", { inputs: "x" });
    expect(ambiguous.status).toBe(413);
    expect(ambiguous.body.error).toContain("name one with ?model=");
  });
});
