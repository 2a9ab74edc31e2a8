/**
 * txt2txt end to end over real sockets (the core served by Bun.serve on port 0), real worker
 * processes and real onnxruntime, on the generated tiny decoder:
 * - greedy output equals the no-cache reference (the whole sequence recomputed each step) token for
 *   token, and transformers.js' text-generation pipeline on the same files;
 * - seeded sampling is reproducible;
 * - 8 concurrent streams (joining at different steps) each equal their single-stream output;
 * - cancelling one stream leaves the others untouched;
 * - stop strings, EOS ids from generation_config.json, and the deadline end sequences as documented;
 * - the official `openai` package streams a chat completion and gets the non-streaming call's text.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import OpenAI from "openai";
import { DEFAULT_DECODER_SHAPE, type TextDecoderFiles, writeTextDecoder } from "../fixtures/text-decoder.ts";
import { type CoreFixture, startCore } from "../support/core-fixture.ts";
import { DecoderReference } from "../support/decoder-reference.ts";

const EOS_IDS = [0, 2];
const PROMPTS = [
  "Hello world",
  "The quick brown fox jumps over the lazy dog.",
  "a",
  "Once upon a time, in a land far away,\nthere lived",
  "1 + 1 =",
  "ModelMora serves ONNX models",
  "zzz",
  "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
];

let fixture: CoreFixture;
let server: ReturnType<typeof Bun.serve>;
let baseUrl: string;
let files: TextDecoderFiles;
let reference: DecoderReference;

async function register(body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${baseUrl}/api/v1/models`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ version: "1", ...body }) });
  expect(response.status).toBe(201);
}

async function generate(model: string, body: Record<string, unknown>): Promise<any> {
  const response = await fetch(`${baseUrl}/api/v1/generate/${model}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const answer = await response.json();
  expect(response.status, JSON.stringify(answer)).toBe(200);
  return answer;
}

interface StreamRecord {
  tokenIds: number[];
  text: string;
  done: any;
  firstTokenAt: number;
  doneAt: number;
}

/** Reads a native SSE stream; `onToken` sees the running token count (and may abort). */
async function stream(model: string, body: Record<string, unknown>, options: { signal?: AbortSignal; onToken?: (count: number) => void } = {}): Promise<StreamRecord> {
  const response = await fetch(`${baseUrl}/api/v1/generate/${model}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
    signal: options.signal,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const record: StreamRecord = { tokenIds: [], text: "", done: undefined, firstTokenAt: 0, doneAt: 0 };
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const bytes of response.body!) {
      buffer += decoder.decode(bytes, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(frame)![1]!);
        if (event === "token") {
          if (record.tokenIds.length === 0) record.firstTokenAt = performance.now();
          record.tokenIds.push(...data.token_ids);
          record.text += data.text;
          options.onToken?.(record.tokenIds.length);
        } else if (event === "done") {
          record.done = data;
          record.doneAt = performance.now();
        } else throw new Error(`unexpected event ${event}: ${JSON.stringify(data)}`);
      }
    }
  } catch (error) {
    if (!options.signal?.aborted) throw error;
  }
  return record;
}

async function metricValue(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split("\n").find((entry) => entry.startsWith(`${name}{`) && labels.split(",").every((label) => entry.includes(label)));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

beforeAll(async () => {
  fixture = await startCore();
  server = Bun.serve({ port: 0, fetch: (request) => fixture.core.app.handle(request) });
  baseUrl = `http://127.0.0.1:${server.port}`;
  files = await writeTextDecoder(path.join(fixture.dataDir, "..", "decoder"));
  reference = await DecoderReference.open(files.model, files.tokenizer, DEFAULT_DECODER_SHAPE);
  await register({ name: "lm", task: "text-generation", source: files.model, files: files.companionFiles, config: { maxConcurrentSequences: 8 } });
});
afterAll(async () => {
  server?.stop(true);
  await fixture?.[Symbol.asyncDispose]();
});

describe("txt2txt generation", () => {
  test("greedy output equals the no-cache reference token for token, with text and usage", async () => {
    for (const prompt of PROMPTS.slice(0, 4)) {
      const promptIds = reference.ids(prompt);
      const expected = await reference.greedy(promptIds, 24, EOS_IDS);
      const answer = await generate("lm", { prompt, max_new_tokens: 24 });
      expect(answer.token_ids).toEqual(expected.ids);
      expect(answer.text).toBe(reference.decode(expected.ids));
      expect(answer.finish_reason).toBe(expected.finishReason);
      expect(answer.usage).toEqual({ prompt_tokens: promptIds.length, completion_tokens: expected.ids.length, total_tokens: promptIds.length + expected.ids.length });
    }
  });

  test("greedy output equals transformers.js' text-generation pipeline loading the same directory offline", async () => {
    const { env, pipeline } = await import("@huggingface/transformers");
    env.allowRemoteModels = false;
    env.localModelPath = path.dirname(files.directory) + path.sep;
    const generator = (await pipeline("text-generation", path.basename(files.directory), { dtype: "fp32", device: "cpu" })) as unknown as (prompt: string, options: object) => Promise<{ generated_text: string }[]>;
    for (const prompt of PROMPTS.slice(0, 3)) {
      const [expected] = await generator(prompt, { max_new_tokens: 24, do_sample: false, return_full_text: false });
      const answer = await generate("lm", { prompt, max_new_tokens: 24 });
      expect(answer.text).toBe(expected!.generated_text);
    }
  });

  test("a stream carries the same tokens as the whole answer, and its pieces join to the text", async () => {
    const whole = await generate("lm", { prompt: PROMPTS[1], max_new_tokens: 30 });
    const streamed = await stream("lm", { prompt: PROMPTS[1], max_new_tokens: 30 });
    expect(streamed.tokenIds).toEqual(whole.token_ids);
    expect(streamed.text).toBe(whole.text);
    expect(streamed.done.text).toBe(whole.text);
    expect(streamed.done.finish_reason).toBe(whole.finish_reason);
  });

  test("seeded sampling is reproducible, and another seed gives another sequence", async () => {
    const body = { prompt: PROMPTS[3], max_new_tokens: 32, temperature: 0.9, top_k: 40, top_p: 0.95, repetition_penalty: 1.2 };
    const first = await generate("lm", { ...body, seed: 7 });
    const again = await generate("lm", { ...body, seed: 7 });
    const other = await generate("lm", { ...body, seed: 8 });
    expect(again.token_ids).toEqual(first.token_ids);
    expect(again.text).toBe(first.text);
    expect(other.token_ids).not.toEqual(first.token_ids);
    const greedy = await reference.greedy(reference.ids(PROMPTS[3]!), 32, EOS_IDS);
    expect(first.token_ids).not.toEqual(greedy.ids);
  });

  test("8 concurrent streams, joining at different steps, each equal their single-stream output", async () => {
    const bodies = PROMPTS.map((prompt, index) => ({ prompt, max_new_tokens: 40, ...(index % 2 === 1 && { temperature: 0.8, top_k: 30, seed: 100 + index }) }));
    const alone: any[] = [];
    for (const body of bodies) alone.push(await generate("lm", body));
    // Four start together; the other four join once the first four are decoding.
    let joined!: () => void;
    const firstFourDecoding = new Promise<void>((resolve) => (joined = resolve));
    let decoding = 0;
    const early = bodies.slice(0, 4).map((body) => stream("lm", body, { onToken: (count) => count === 2 && ++decoding === 4 && joined() }));
    await firstFourDecoding;
    const late = bodies.slice(4).map((body) => stream("lm", body));
    const records = await Promise.all([...early, ...late]);
    records.forEach((record, index) => {
      expect(record.tokenIds).toEqual(alone[index].token_ids);
      expect(record.text).toBe(alone[index].text);
    });
    // They really ran together: every late stream had its first token before the early ones all finished.
    const lastLateFirstToken = Math.max(...records.slice(4).map((record) => record.firstTokenAt));
    const longestEarly = records.slice(0, 4).filter((record) => record.tokenIds.length === 40);
    if (longestEarly.length > 0) expect(lastLateFirstToken).toBeLessThan(Math.max(...longestEarly.map((record) => record.doneAt)));
  });

  test("a decoder without position_ids input: concurrent streams still equal the no-cache reference", async () => {
    const noPositions = await writeTextDecoder(path.join(fixture.dataDir, "..", "decoder-no-positions"), { withPositionIds: false });
    await register({ name: "lm-no-positions", task: "txt2txt", source: noPositions.model, files: noPositions.companionFiles });
    const referenceWithout = await DecoderReference.open(noPositions.model, noPositions.tokenizer, DEFAULT_DECODER_SHAPE);
    const prompts = PROMPTS.slice(0, 4);
    const records = await Promise.all(prompts.map((prompt) => stream("lm-no-positions", { prompt, max_new_tokens: 20 })));
    for (const [index, prompt] of prompts.entries()) {
      const expected = await referenceWithout.greedy(referenceWithout.ids(prompt), 20, EOS_IDS);
      expect(records[index]!.tokenIds).toEqual(expected.ids);
    }
  });

  test("cancelling one stream stops it within a step and leaves the others untouched", async () => {
    const bodies = PROMPTS.slice(0, 4).map((prompt) => ({ prompt, max_new_tokens: 80, stop: [] }));
    const alone: any[] = [];
    for (const body of bodies) alone.push(await generate("lm", body));
    const cancelledBefore = await metricValue("modelmora_generation_sequences_total", 'model="lm",finish_reason="cancelled"');
    const abort = new AbortController();
    const records = await Promise.all(bodies.map((body, index) => stream("lm", body, index === 0 ? { signal: abort.signal, onToken: (count) => count === 3 && abort.abort() } : {})));
    for (let index = 1; index < bodies.length; index++) expect(records[index]!.tokenIds).toEqual(alone[index].token_ids);
    expect(records[0]!.done).toBeUndefined();
    // The server saw the disconnect and ended the sequence as cancelled.
    for (let attempt = 0; attempt < 50; attempt++) {
      if ((await metricValue("modelmora_generation_sequences_total", 'model="lm",finish_reason="cancelled"')) > cancelledBefore) break;
      await Bun.sleep(20);
    }
    expect(await metricValue("modelmora_generation_sequences_total", 'model="lm",finish_reason="cancelled"')).toBe(cancelledBefore + 1);
  });

  test("with every slot taken, a CRITICAL sequence is admitted before a LOW one that waited longer", async () => {
    // One slot, held by a sequence with an end token that never comes until the test lets it go
    // (cancelling it), so both later sequences are surely waiting, whatever the machine's speed.
    const oneSlot = await writeTextDecoder(path.join(fixture.dataDir, "..", "decoder-one-slot"), { eosTokenIds: [100_000], shape: { maxPositions: 16_384 } });
    await register({ name: "lm-one", task: "txt2txt", source: oneSlot.model, files: oneSlot.companionFiles, config: { maxConcurrentSequences: 1 } });
    const waiting = () => metricValue("modelmora_generation_sequences_waiting", 'model="lm-one"');
    const until = async (condition: () => Promise<boolean>) => {
      for (let attempt = 0; attempt < 500 && !(await condition()); attempt++) await Bun.sleep(2);
    };
    let holding!: () => void;
    const slotTaken = new Promise<void>((resolve) => (holding = resolve));
    const release = new AbortController();
    const first = stream("lm-one", { prompt: "a", max_new_tokens: 16_000 }, { signal: release.signal, onToken: (count) => count === 1 && holding() }).catch(() => undefined);
    await slotTaken;
    const low = stream("lm-one", { prompt: "b", max_new_tokens: 4, priority: "low" });
    await until(async () => (await waiting()) === 1);
    const critical = stream("lm-one", { prompt: "c", max_new_tokens: 4, priority: "critical" });
    await until(async () => (await waiting()) === 2);
    expect(await waiting()).toBe(2);
    const releasedAt = performance.now();
    release.abort();
    const [lowRecord, criticalRecord] = await Promise.all([low, critical]);
    await first;
    expect(criticalRecord.firstTokenAt).toBeGreaterThan(releasedAt);
    expect(criticalRecord.firstTokenAt).toBeLessThan(lowRecord.firstTokenAt);
    expect(await waiting()).toBe(0);
  });

  test("a stop string ends the text before it; EOS ids come from generation_config.json", async () => {
    const promptIds = reference.ids(PROMPTS[0]!);
    const greedy = await reference.greedy(promptIds, 40, EOS_IDS);
    const text = reference.decode(greedy.ids);
    const stop = text.slice(10, 12);
    const stopped = await generate("lm", { prompt: PROMPTS[0], max_new_tokens: 40, stop });
    expect(stopped.text).toBe(text.slice(0, text.indexOf(stop)));
    expect(stopped.finish_reason).toBe("stop");

    // A model version whose generation_config names the 6th greedy token as its end.
    const eosId = greedy.ids[5]!;
    const eosFiles = await writeTextDecoder(path.join(fixture.dataDir, "..", "decoder-eos"), { eosTokenIds: [eosId] });
    await register({ name: "lm-eos", task: "txt2txt", source: eosFiles.model, files: eosFiles.companionFiles });
    const ended = await generate("lm-eos", { prompt: PROMPTS[0], max_new_tokens: 40 });
    expect(ended.token_ids).toEqual(greedy.ids.slice(0, greedy.ids.indexOf(eosId) + 1));
    expect(ended.finish_reason).toBe("stop");
  });

  test("a deadline ends a long generation with finish_reason length and the text so far", async () => {
    const answer = await generate("lm", { prompt: PROMPTS[2], max_new_tokens: 5000, timeout_ms: 60 });
    expect(answer.finish_reason).toBe("length");
    expect(answer.token_ids.length).toBeLessThan(DEFAULT_DECODER_SHAPE.maxPositions - 1);
    const expected = await reference.greedy(reference.ids(PROMPTS[2]!), answer.token_ids.length, EOS_IDS);
    expect(answer.token_ids).toEqual(expected.ids);
  });

  test("errors: unknown model 404; both prompt and messages, a model that is no decoder, a tensor model 400", async () => {
    const unknown = await fetch(`${baseUrl}/api/v1/generate/nope`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "x" }) });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe("MODEL_NOT_FOUND");
    const both = await fetch(`${baseUrl}/api/v1/generate/lm`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "x", messages: [{ role: "user", content: "y" }] }) });
    expect(both.status).toBe(400);
    // A model registered as txt2txt that is no KV-cache decoder: the worker refuses, 400 naming why.
    await register({ name: "not-a-decoder", task: "txt2txt", source: fixture.fixtures.add, files: files.companionFiles });
    const refused = await fetch(`${baseUrl}/api/v1/generate/not-a-decoder`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "x" }) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toContain("input_ids");
    // The same sequence on a tensor model is refused before any worker is involved.
    await register({ name: "tensor-add", task: "tensor", source: fixture.fixtures.add });
    const wrongTask = await fetch(`${baseUrl}/api/v1/generate/tensor-add`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "x" }) });
    expect(wrongTask.status).toBe(400);
  });

  test("the OpenAPI document lists the generation routes", async () => {
    const document = (await (await fetch(`${baseUrl}/swagger/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/api/v1/generate/{name}", "/v1/chat/completions", "/v1/completions"]));
  });
});

describe("OpenAI-compatible generation through the official openai package", () => {
  const client = () => new OpenAI({ apiKey: "unused", baseURL: `${baseUrl}/v1`, maxRetries: 0 });
  const messages = [
    { role: "system" as const, content: "You are terse." },
    { role: "user" as const, content: "Say hello" },
  ];

  test("a streamed chat completion has the non-streaming call's text; usage in both", async () => {
    const whole = await client().chat.completions.create({ model: "lm", messages, max_tokens: 24, temperature: 0 });
    const text = whole.choices[0]!.message.content!;
    expect(text.length).toBeGreaterThan(0);
    expect(whole.usage!.completion_tokens).toBeGreaterThan(0);
    // The chat template rendered as transformers would: ChatML with the assistant's turn open.
    const prompt = "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nSay hello<|im_end|>\n<|im_start|>assistant\n";
    const expected = await reference.greedy(reference.ids(prompt), 24, EOS_IDS);
    expect(text).toBe(reference.decode(expected.ids));
    expect(whole.usage!.prompt_tokens).toBe(reference.ids(prompt).length);

    const chunks = await client().chat.completions.create({ model: "lm", messages, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let streamed = "";
    let finishReason: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let count = 0;
    for await (const chunk of chunks) {
      count++;
      streamed += chunk.choices[0]?.delta.content ?? "";
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
      usage = chunk.usage ?? usage;
    }
    expect(count).toBeGreaterThan(3);
    expect(streamed).toBe(text);
    expect(finishReason).toBe(whole.choices[0]!.finish_reason);
    expect(usage).toEqual(whole.usage!);
  });

  test("completions, streaming and not, agree; errors raise the SDK's exceptions", async () => {
    const whole = await client().completions.create({ model: "lm", prompt: PROMPTS[1]!, max_tokens: 20, temperature: 0 });
    let streamed = "";
    for await (const chunk of await client().completions.create({ model: "lm", prompt: PROMPTS[1]!, max_tokens: 20, temperature: 0, stream: true })) {
      streamed += chunk.choices[0]?.text ?? "";
    }
    expect(streamed).toBe(whole.choices[0]!.text);
    const expected = await reference.greedy(reference.ids(PROMPTS[1]!), 20, EOS_IDS);
    expect(whole.choices[0]!.text).toBe(reference.decode(expected.ids));
    const missing = await client().chat.completions.create({ model: "nope", messages }).catch((error: any) => error);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.code).toBe("model_not_found");
    const empty = await client().chat.completions.create({ model: "lm", messages: [] }).catch((error: any) => error);
    expect(empty).toBeInstanceOf(OpenAI.BadRequestError);
    expect(empty.param).toBe("messages");
  });
});
