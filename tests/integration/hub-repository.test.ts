/**
 * `hf://org/repo[@revision]` with no file path, against the local Hub-layout fixture: the ONNX export
 * layout is installed (onnx/model.onnx, else model.onnx, and whichever companion files exist), each
 * file pinned as its own hf:// source, and the model serves its task with them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import type { ServerCore } from "../../src/server.ts";
import { writeImageModel } from "../fixtures/image-model.ts";
import { writeTextEncoder } from "../fixtures/text-encoder.ts";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { EmbeddingReference, maxDifference } from "../support/embedding-reference.ts";
import { type HubFixture, sha256Hex, startHub } from "../support/hub-fixture.ts";

let hub: HubFixture;
let fixture: CoreFixture;
let core: ServerCore;
let reference: EmbeddingReference;
let tokenizerPath: string;
const previousEndpoint = process.env.HF_ENDPOINT;

const read = async (file: string) => new Uint8Array(await Bun.file(file).arrayBuffer());
const register = (body: object) => callApp(core.app, "POST", "/api/v1/models", { version: "1", ...body });

beforeAll(async () => {
  hub = startHub();
  process.env.HF_ENDPOINT = hub.endpoint;
  fixture = await startCore({ sourceHosts: new URL(hub.endpoint).hostname, sourceAllowPrivateNetworks: "true" } as never);
  core = fixture.core;
  const encoder = await writeTextEncoder(path.join(fixture.dataDir, "..", "encoder"));
  reference = await EmbeddingReference.open(encoder.model, encoder.tokenizer);
  tokenizerPath = encoder.tokenizer;
  // sentence-transformers layout: onnx/model.onnx, tokenizer.json, 1_Pooling/config.json (CLS pooling).
  hub.addFile("org/encoder", "onnx/model.onnx", { bytes: await read(encoder.model), lfs: true });
  hub.addFile("org/encoder", "tokenizer.json", { bytes: await read(encoder.tokenizer) });
  hub.addFile("org/encoder", "1_Pooling/config.json", { bytes: await read(encoder.clsPooling) });
  // An older revision with model.onnx at the top and no pooling config.
  hub.addFile("org/encoder", "model.onnx", { bytes: await read(encoder.model) }, "v1");
  hub.addFile("org/encoder", "tokenizer.json", { bytes: await read(encoder.tokenizer) }, "v1");
  // An image classifier: model.onnx, preprocessor_config.json, config.json.
  const image = await writeImageModel(path.join(fixture.dataDir, "..", "image"));
  hub.addFile("org/vision", "model.onnx", { bytes: await read(image.model) });
  hub.addFile("org/vision", "preprocessor_config.json", { bytes: await read(image.preprocessorConfig) });
  hub.addFile("org/vision", "config.json", { bytes: await read(image.config) });
}, 60_000);

afterAll(async () => {
  await fixture?.[Symbol.asyncDispose]();
  await hub?.[Symbol.asyncDispose]();
  if (previousEndpoint === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = previousEndpoint;
});

describe("hf://org/repo installs the ONNX export layout", () => {
  test("onnx/model.onnx and the companion files present are installed, each pinned with its sha256", async () => {
    const response = await register({ name: "hub-enc", task: "feature-extraction", source: "hf://org/encoder" });
    expect(response.status).toBe(201);
    const [version] = response.body.versions;
    expect(version.source).toBe("hf://org/encoder/onnx/model.onnx");
    expect(Object.keys(version.files).sort()).toEqual(["1_Pooling/config.json", "tokenizer.json"]);
    expect(version.files["tokenizer.json"]).toMatchObject({ source: "hf://org/encoder/tokenizer.json", sha256: sha256Hex(await read(tokenizerPath)) });
  });

  test("the installed model serves with the repository's pooling config (CLS), equal to the reference", async () => {
    const response = await callApp(core.app, "POST", "/api/v1/infer/hub-enc", { input: "hello world" });
    expect(response.status).toBe(200);
    expect(maxDifference(response.body.embeddings, [await reference.embed("hello world", { pooling: "cls" })])).toBeLessThan(1e-5);
  });

  test("@revision is honoured and model.onnx at the top is found when onnx/model.onnx is absent", async () => {
    const response = await register({ name: "hub-enc-v1", task: "txt2embed", source: "hf://org/encoder@v1" });
    expect(response.status).toBe(201);
    expect(response.body.versions[0].source).toBe("hf://org/encoder@v1/model.onnx");
    expect(Object.keys(response.body.versions[0].files)).toEqual(["tokenizer.json"]);
  });

  test("an image repository brings preprocessor_config.json and config.json, and labels with them", async () => {
    const response = await register({ name: "hub-vision", task: "image-classification", source: "hf://org/vision" });
    expect(response.status).toBe(201);
    expect(Object.keys(response.body.versions[0].files).sort()).toEqual(["config.json", "preprocessor_config.json"]);
    const { default: sharp } = await import("sharp");
    const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: "#884422" } }).png().toBuffer();
    const answer = await callApp(core.app, "POST", "/api/v1/infer/hub-vision", { image: png.toString("base64"), top_k: 1 });
    expect(answer.status).toBe(200);
    expect(["cat", "dog", "bird", "fish", "horse"]).toContain(answer.body.labels[0].label);
  });

  test("a repository with no model file is SOURCE_UNAVAILABLE naming the paths tried", async () => {
    hub.addFile("org/empty", "README.md", { bytes: new TextEncoder().encode("# nothing") });
    const response = await register({ name: "hub-empty", task: "txt2embed", source: "hf://org/empty" });
    expect(response.body.code).toBe("SOURCE_UNAVAILABLE");
    expect(response.body.error).toContain("onnx/model.onnx nor model.onnx");
  });
});
