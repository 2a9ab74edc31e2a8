/**
 * modelmora.v1 InferenceService/Generate over a real socket, real worker processes and onnxruntime:
 * the streamed tokens equal the no-cache greedy reference, the last message carries the finish
 * reason and usage, chat messages go through the chat template, cancelling the call ends the
 * sequence as cancelled, and an unknown model is NOT_FOUND.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { addModelmoraServices, MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { DEFAULT_DECODER_SHAPE, writeTextDecoder } from "../fixtures/text-decoder.ts";
import { callApp, type CoreFixture, startCore } from "../support/core-fixture.ts";
import { DecoderReference } from "../support/decoder-reference.ts";

const EOS_IDS = [0, 2];
let fixture: CoreFixture;
let server: grpc.Server;
let client: grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientReadableStream<any>>;
let reference: DecoderReference;

beforeAll(async () => {
  fixture = await startCore();
  const { core } = fixture;
  const files = await writeTextDecoder(path.join(fixture.dataDir, "..", "decoder"));
  reference = await DecoderReference.open(files.model, files.tokenizer, DEFAULT_DECODER_SHAPE);
  const registered = await callApp(core.app, "POST", "/api/v1/models", { name: "lm", version: "1", task: "txt2txt", source: files.model, files: files.companionFiles });
  expect(registered.status).toBe(201);
  server = new grpc.Server();
  addModelmoraServices(server, {
    inference: core.inference,
    models: core.models,
    status: core.status,
    readiness: core.readiness,
    logger: pino({ level: "silent" }),
    generation: core.generation,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  const v1 = (loadProtos(MODELMORA_PROTO_FILES).grpcObject.modelmora as grpc.GrpcObject).v1 as grpc.GrpcObject;
  client = new (v1.InferenceService as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as never;
}, 60_000);

afterAll(async () => {
  client?.close();
  server?.forceShutdown();
  await fixture?.[Symbol.asyncDispose]();
});

/** Reads a Generate stream; `onMessage` may cancel it. */
function generate(request: object, onMessage?: (message: any, call: grpc.ClientReadableStream<any>) => void): Promise<{ messages: any[]; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const call = client.Generate!(request);
    const messages: any[] = [];
    call.on("data", (message) => {
      messages.push(message);
      onMessage?.(message, call);
    });
    call.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
    call.on("end", () => resolve({ messages }));
  });
}

describe("gRPC Generate", () => {
  test("streamed tokens equal the no-cache greedy reference; the last message has finish reason and usage", async () => {
    const prompt = "The quick brown fox";
    const expected = await reference.greedy(reference.ids(prompt), 20, EOS_IDS);
    const { messages, error } = await generate({ model: "lm", prompt, max_new_tokens: 20 });
    expect(error).toBeUndefined();
    const last = messages.at(-1)!;
    const steps = messages.slice(0, -1);
    expect(steps.flatMap((message) => message.token_ids)).toEqual(expected.ids);
    expect(steps.map((message) => message.text).join("")).toBe(reference.decode(expected.ids));
    expect(last.finish_reason).toBe(expected.finishReason);
    expect(last.completion_tokens).toBe(expected.ids.length);
    expect(last.prompt_tokens).toBe(reference.ids(prompt).length);
    expect(last.model_name).toBe("lm");
  });

  test("chat messages are rendered with the model's chat template", async () => {
    const prompt = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
    const expected = await reference.greedy(reference.ids(prompt), 12, EOS_IDS);
    const { messages } = await generate({ model: "lm", messages: [{ role: "user", content: "Hi" }], max_new_tokens: 12 });
    expect(messages.flatMap((message) => message.token_ids)).toEqual(expected.ids);
  });

  test("cancelling the call ends the sequence as cancelled; an unknown model is NOT_FOUND", async () => {
    const before = await (await callApp(fixture.core.app, "GET", "/metrics")).body;
    const cancelledCount = (text: string) => Number(/modelmora_generation_sequences_total\{[^}]*finish_reason="cancelled"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    const { messages, error } = await generate({ model: "lm", prompt: "a", max_new_tokens: 400 }, (_, call) => {
      if (_.token_ids.length > 0) call.cancel();
    });
    expect(error?.code).toBe(grpc.status.CANCELLED);
    expect(messages.length).toBeLessThan(400);
    let after = cancelledCount(before);
    for (let attempt = 0; attempt < 50 && after === cancelledCount(before); attempt++) {
      await Bun.sleep(20);
      after = cancelledCount((await callApp(fixture.core.app, "GET", "/metrics")).body);
    }
    expect(after).toBe(cancelledCount(before) + 1);
    const missing = await generate({ model: "nope", prompt: "x" });
    expect(missing.error?.code).toBe(grpc.status.NOT_FOUND);
  });
});
