/**
 * modelmora.v1 task RPCs through a real grpc-js client over a real socket: `Embed` for txt2embed
 * (equal to the REST answer and to an independent reference within 1e-5) and img2embed (equal to REST),
 * `Ocr` with the real PP-OCRv4 models (lines and a page, equal to REST), and errors as gRPC statuses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import path from "node:path";
import pino from "pino";
import sharp from "sharp";
import { addModelmoraServices, MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import type { ServerCore } from "../../src/server.ts";
import { writeImageModel } from "../fixtures/image-model.ts";
import { writeTextEncoder } from "../fixtures/text-encoder.ts";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { EmbeddingReference, maxDifference } from "../support/embedding-reference.ts";
import { copyOcrModels, renderLine, renderPage } from "../support/rendered-text.ts";

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const TOLERANCE = 1e-5;
const SENTENCES = ["hello world", "the quick brown fox jumps over the lazy dog", "a cat sat on the mat"];

let fixture: CoreFixture;
let core: ServerCore;
let server: grpc.Server;
let inference: Client;
let reference: EmbeddingReference;
let lines: Buffer[];
let picture: Buffer;

const rest = (route: string, body: unknown) => callApp(core.app, "POST", route, body);

function call(method: string, request: object): Promise<any> {
  return new Promise((resolve, reject) => {
    inference[method]!(request, new grpc.Metadata(), (error: grpc.ServiceError | null, response: unknown) => (error ? reject(error) : resolve(response)));
  });
}

async function failure(promise: Promise<unknown>): Promise<{ status: grpc.status; code: unknown }> {
  try {
    await promise;
  } catch (error) {
    const serviceError = error as grpc.ServiceError;
    return { status: serviceError.code, code: serviceError.metadata.get("x-modelmora-code")[0] };
  }
  throw new Error("the call succeeded");
}

beforeAll(async () => {
  fixture = await startCore();
  core = fixture.core;
  const directory = path.join(fixture.dataDir, "..");
  const encoder = await writeTextEncoder(path.join(directory, "encoder"));
  const image = await writeImageModel(path.join(directory, "image-model"));
  const ocr = await copyOcrModels(path.join(directory, "ocr"));
  reference = await EmbeddingReference.open(encoder.model, encoder.tokenizer);
  for (const registration of [
    { name: "enc", task: "txt2embed", source: encoder.model, files: { "tokenizer.json": encoder.tokenizer } },
    { name: "img", task: "img2embed", source: image.model, files: { "preprocessor_config.json": image.preprocessorConfig } },
    { name: "ocr", task: "img2txt", source: ocr.recognizer, files: { "charset.txt": ocr.charset } },
    { name: "ocr-page", task: "img2txt", source: ocr.recognizer, files: { "charset.txt": ocr.charset, "det.onnx": ocr.detector } },
  ]) {
    expect((await callApp(core.app, "POST", "/api/v1/models", { version: "1", ...registration })).status).toBe(201);
  }
  server = new grpc.Server();
  addModelmoraServices(server, {
    inference: core.inference,
    models: core.models,
    status: core.status,
    readiness: { accepting: () => true, preloaded: () => true, checkDatabase: async () => {} },
    logger: pino({ level: "silent" }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  const v1 = (loadProtos(MODELMORA_PROTO_FILES).grpcObject.modelmora as grpc.GrpcObject).v1 as grpc.GrpcObject;
  inference = new (v1.InferenceService as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
  lines = await Promise.all(["Hello World 2024", "Invoice 8731"].map((line) => renderLine(line)));
  picture = await sharp({ create: { width: 20, height: 12, channels: 3, background: "#3366cc" } }).png().toBuffer();
}, 120_000);

afterAll(async () => {
  inference?.close();
  server?.forceShutdown();
  await fixture?.[Symbol.asyncDispose]();
});

describe("Embed", () => {
  test("texts: equal to the reference within 1e-5 and to the REST answer, with token usage", async () => {
    const answer = await call("Embed", { model: "enc", texts: SENTENCES });
    const vectors = answer.embeddings.map((embedding: { values: number[] }) => embedding.values);
    const expected = await Promise.all(SENTENCES.map((sentence) => reference.embed(sentence)));
    expect(maxDifference(vectors, expected)).toBeLessThan(TOLERANCE);
    const viaRest = await rest("/api/v1/infer/enc", { input: SENTENCES });
    expect(vectors).toEqual(viaRest.body.embeddings);
    expect(answer.dimensions).toBe(viaRest.body.dimensions);
    expect(answer.tokens).toBe(viaRest.body.usage.tokens);
  });

  test("texts with dimensions and normalize: false equal REST with the same options", async () => {
    const answer = await call("Embed", { model: "enc", texts: [SENTENCES[1]], dimensions: 4, normalize: false });
    const viaRest = await rest("/api/v1/infer/enc", { input: [SENTENCES[1]], dimensions: 4, normalize: false });
    expect(answer.embeddings[0].values).toEqual(viaRest.body.embeddings[0]);
    expect(answer.dimensions).toBe(4);
  });

  test("images: equal to the REST answer", async () => {
    const answer = await call("Embed", { model: "img", images: [picture] });
    const viaRest = await rest("/api/v1/infer/img", { image: picture.toString("base64") });
    expect(answer.embeddings[0].values).toEqual(viaRest.body.embedding);
  });

  test("errors are gRPC statuses with the domain code: no input, a model of another task, an unknown model", async () => {
    expect(await failure(call("Embed", { model: "enc" }))).toMatchObject({ status: grpc.status.INVALID_ARGUMENT, code: "INVALID_INPUT" });
    expect(await failure(call("Embed", { model: "ocr", texts: ["hi"] }))).toMatchObject({ status: grpc.status.INVALID_ARGUMENT, code: "INVALID_INPUT" });
    expect(await failure(call("Embed", { model: "nope", texts: ["hi"] }))).toMatchObject({ status: grpc.status.NOT_FOUND, code: "MODEL_NOT_FOUND" });
  });
});

describe("Ocr", () => {
  test("text lines read back exactly, equal to the REST answer", async () => {
    const answer = await call("Ocr", { model: "ocr", images: lines });
    expect(answer.results.map((result: { text: string }) => result.text)).toEqual(["Hello World 2024", "Invoice 8731"]);
    const viaRest = await rest("/api/v1/infer/ocr", { images: lines.map((line) => line.toString("base64")) });
    answer.results.forEach((result: { confidence: number }, index: number) => expect(result.confidence).toBeCloseTo(viaRest.body.results[index].confidence, 6));
  });

  test("a page gives its lines top to bottom with their boxes, as REST does", async () => {
    const page = await renderPage(["Hello World 2024", "Invoice 8731"]);
    const answer = await call("Ocr", { model: "ocr-page", images: [page] });
    const viaRest = await rest("/api/v1/infer/ocr-page", { image: page.toString("base64") });
    expect(answer.results[0].text).toBe("Hello World 2024\nInvoice 8731");
    expect(answer.results[0].lines.map((line: { box: { x: number; y: number }[] }) => line.box.map(({ x, y }) => [x, y]))).toEqual(viaRest.body.lines.map((line: { box: number[][] }) => line.box));
  });

  test("a corrupt image is INVALID_ARGUMENT", async () => {
    expect(await failure(call("Ocr", { model: "ocr", images: [Buffer.from("not an image")] }))).toMatchObject({ status: grpc.status.INVALID_ARGUMENT, code: "INVALID_INPUT" });
  });
});
