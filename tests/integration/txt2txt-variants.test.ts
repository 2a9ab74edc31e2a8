/**
 * txt2txt on decoder exports other than the plain float32 one, end to end (real worker processes,
 * real onnxruntime), each against the no-cache reference loop (tests/support/decoder-reference.ts):
 * - float16 KV caches (past/present float16, as fp16 exports have them), with a BPE vocabulary of
 *   merges (decoder-tokenizer.ts) rather than bytes only;
 * - Optimum's merged decoder with a `use_cache_branch` input (false on the no-cache first step).
 * Eight concurrent sequences of different lengths, half of them joining later, so rows join, leave
 * and are re-packed while the others decode: every one equals the reference token for token.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { DEFAULT_DECODER_SHAPE, type DecoderVariant, type TextDecoderFiles, writeTextDecoder } from "../fixtures/text-decoder.ts";
import { callApp, type CoreFixture, startCore } from "../support/core-fixture.ts";
import { DecoderReference } from "../support/decoder-reference.ts";

const EOS_IDS = [0, 2];
const PROMPTS = ["Hello world", "The quick brown fox jumps over the lazy dog.", "a", "Once upon a time,\nthere lived", "1 + 1 =", "ModelMora serves ONNX models", "zzz", "Dear reader,"];

let fixture: CoreFixture;

beforeAll(async () => {
  fixture = await startCore();
});
afterAll(async () => {
  await fixture?.[Symbol.asyncDispose]();
});

async function registerVariant(name: string, options: Partial<DecoderVariant> & { vocabularySize?: number }): Promise<{ files: TextDecoderFiles; reference: DecoderReference }> {
  const { vocabularySize, ...variant } = options;
  const files = await writeTextDecoder(path.join(fixture.dataDir, "..", name), { ...variant, ...(vocabularySize && { shape: { vocabularySize } }) });
  const registered = await callApp(fixture.core.app, "POST", "/api/v1/models", { name, version: "1", task: "txt2txt", source: files.model, files: files.companionFiles, config: { maxConcurrentSequences: 8 } });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  return { files, reference: await DecoderReference.open(files.model, files.tokenizer, DEFAULT_DECODER_SHAPE) };
}

/** Eight sequences (lengths 12…33), four at once and four a little later; each must equal the reference. */
async function expectConcurrentEqualsReference(model: string, reference: DecoderReference): Promise<void> {
  const request = (prompt: string, index: number) =>
    callApp(fixture.core.app, "POST", `/api/v1/generate/${model}`, { prompt, max_new_tokens: 12 + index * 3 }).then((answer) => {
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      return answer.body;
    });
  const early = PROMPTS.slice(0, 4).map((prompt, index) => request(prompt, index));
  await Bun.sleep(30);
  const late = PROMPTS.slice(4).map((prompt, index) => request(prompt, index + 4));
  const answers = await Promise.all([...early, ...late]);
  for (const [index, prompt] of PROMPTS.entries()) {
    const expected = await reference.greedy(reference.ids(prompt), 12 + index * 3, EOS_IDS);
    expect(answers[index].token_ids).toEqual(expected.ids);
    expect(answers[index].text).toBe(reference.decode(expected.ids.filter((id) => !EOS_IDS.includes(id))));
    expect(answers[index].finish_reason).toBe(expected.finishReason);
  }
}

describe("txt2txt decoder variants", () => {
  test("float16 KV caches with a BPE vocabulary: concurrent sequences equal the no-cache reference", async () => {
    const { files, reference } = await registerVariant("lm-fp16", { cacheType: "float16", vocabularySize: 600 });
    // The export really is fp16-cached, and its tokenizer really merges (fewer ids than bytes).
    const session = await ort.InferenceSession.create(files.model);
    const past = session.inputMetadata.find((metadata) => metadata.name === "past_key_values.0.key")!;
    expect(past.isTensor && past.type).toBe("float16");
    expect(reference.ids(PROMPTS[1]!).length).toBeLessThan(PROMPTS[1]!.length);
    await expectConcurrentEqualsReference("lm-fp16", reference);
  });

  test("a merged decoder with use_cache_branch: concurrent sequences equal the no-cache reference", async () => {
    const { files, reference } = await registerVariant("lm-merged", { mergedBranch: true });
    // The flag matters: with a real past, use_cache_branch false (past ignored) gives other logits than true.
    const session = await ort.InferenceSession.create(files.model);
    const { heads, headDimension, layers } = DEFAULT_DECODER_SHAPE;
    const logitsWith = async (useCache: boolean) => {
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor("int64", BigInt64Array.from([40n]), [1, 1]),
        attention_mask: new ort.Tensor("int64", new BigInt64Array(useCache ? 3 : 1).fill(1n), [1, useCache ? 3 : 1]),
        position_ids: new ort.Tensor("int64", BigInt64Array.from([2n]), [1, 1]),
        use_cache_branch: new ort.Tensor("bool", [useCache], [1]),
      };
      for (let layer = 0; layer < layers; layer++) {
        for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = new ort.Tensor("float32", new Float32Array(heads * 2 * headDimension).fill(0.5), [1, heads, 2, headDimension]);
      }
      return Array.from((await session.run(feeds, ["logits"])).logits!.data as Float32Array);
    };
    expect(await logitsWith(true)).not.toEqual(await logitsWith(false));
    await expectConcurrentEqualsReference("lm-merged", reference);
  });
});
