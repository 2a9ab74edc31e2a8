/**
 * The modelmora.v1 gRPC API over a real socket and the real core (database, registry, worker
 * processes): registry CRUD with its errors, Infer typed and raw, and the management service.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { addModelmoraServices, MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import type { ServerCore } from "../../src/server.ts";
import { FIXTURE_SIGNATURES, type FixtureModels, referenceAdd } from "../fixtures/models.ts";
import { type CoreFixture, startCore } from "../support/core-fixture.ts";
import { DEFAULT_MAX_BATCH_SIZE } from "../../src/registry/model-config.ts";

/** The add fixture's sums are exact in float32; 1e-6 leaves room for kernel choice. */
const TOLERANCE = 1e-6;

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

let fixture: CoreFixture;
let core: ServerCore;
let fixtures: FixtureModels;
let server: grpc.Server;
let serviceNames: string[];
let inference: Client;
let registry: Client;
let management: Client;
/** Readiness as the test sets it: ManagementService.Ready reports it. */
const readiness = { accepting: true, preloaded: true };

beforeAll(async () => {
  fixture = await startCore();
  ({ core, fixtures } = fixture);
  server = new grpc.Server();
  serviceNames = addModelmoraServices(server, {
    inference: core.inference,
    models: core.models,
    status: core.status,
    readiness: { accepting: () => readiness.accepting, preloaded: () => readiness.preloaded, checkDatabase: async () => {} },
    logger: pino({ level: "silent" }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  const v1 = (loadProtos(MODELMORA_PROTO_FILES).grpcObject.modelmora as grpc.GrpcObject).v1 as grpc.GrpcObject;
  const connect = (service: string) => new (v1[service] as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
  inference = connect("InferenceService");
  registry = connect("RegistryService");
  management = connect("ManagementService");
}, 60_000);

afterAll(async () => {
  for (const client of [inference, registry, management]) client?.close();
  server?.forceShutdown();
  await fixture?.[Symbol.asyncDispose]();
});

/** A unary call as a promise of its (proto-loader decoded) response. */
function call(client: Client, method: string, request: object, metadata = new grpc.Metadata()): Promise<any> {
  return new Promise((resolve, reject) => {
    client[method]!(request, metadata, (error: grpc.ServiceError | null, response: unknown) => (error ? reject(error) : resolve(response)));
  });
}

/** How a call failed: gRPC status, the domain code from trailing metadata, and the message. */
async function failure(promise: Promise<unknown>): Promise<{ status: grpc.status; code: unknown; message: string; details: any }> {
  try {
    await promise;
  } catch (error) {
    const serviceError = error as grpc.ServiceError;
    const [details] = serviceError.metadata.get("x-modelmora-details");
    return {
      status: serviceError.code,
      code: serviceError.metadata.get("x-modelmora-code")[0],
      message: serviceError.details,
      details: details === undefined ? undefined : JSON.parse(String(details)),
    };
  }
  throw new Error("expected the call to fail, but it succeeded");
}

function register(name: string, source: string, extra: Record<string, unknown> = {}) {
  return call(registry, "RegisterModel", { name, version: "1", task: "tensor", source, ...extra });
}

/** proto-loader decodes int64 as strings; the signature as the registry reports it, in that form. */
function protoSpecs(specs: { name: string; datatype: string; shape: number[] }[]) {
  return specs.map((spec) => ({ name: spec.name, datatype: spec.datatype, shape: spec.shape.map(String) }));
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  expect(actual.length).toBe(expected.length);
  Array.from(actual).forEach((value, index) => expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(TOLERANCE));
}

test("addModelmoraServices adds the three modelmora.v1 services and names them", () => {
  expect(serviceNames).toEqual(["modelmora.v1.InferenceService", "modelmora.v1.RegistryService", "modelmora.v1.ManagementService"]);
});

describe("RegistryService", () => {
  test("RegisterModel answers the Model: signature, version with checksum and size, config_json with defaults, state", async () => {
    const model = await register("g-add", fixtures.add, { config_json: JSON.stringify({ maxBatchSize: 8, maxQueueDelayMicroseconds: 2000 }) });
    expect(model).toMatchObject({
      name: "g-add",
      task: "tensor",
      active_version: "1",
      inputs: protoSpecs(FIXTURE_SIGNATURES.add.inputs),
      outputs: protoSpecs(FIXTURE_SIGNATURES.add.outputs),
      state: "unloaded",
    });
    expect(model.versions).toEqual([
      { version: "1", sha256: expect.stringMatching(/^[0-9a-f]{64}$/), size_bytes: String(Bun.file(fixtures.add).size), source: fixtures.add, created_at: expect.any(String) },
    ]);
    expect(JSON.parse(model.config_json)).toMatchObject({ maxBatchSize: 8, maxQueueDelayMicroseconds: 2000, device: "auto", keepAliveSeconds: 300 });
  });

  test("config_json round-trips what REST takes: GetModel gives back the registered config", async () => {
    const config = { maxBatchSize: 4, preferredBatchSizes: [2, 4], timeoutAction: "delay", warmupShapes: { a: [2, 4], b: [2, 4] }, memoryMb: 48.5 };
    await register("g-config", fixtures.add, { config_json: JSON.stringify(config) });
    expect(JSON.parse((await call(registry, "GetModel", { name: "g-config" })).config_json)).toMatchObject(config);
  });

  test("ListModels lists every model or those of one task; GetModel fetches one", async () => {
    await register("g-list", fixtures.fixedShape);
    const all = (await call(registry, "ListModels", {})).models.map((model: { name: string }) => model.name);
    expect(all).toContain("g-list");
    expect((await call(registry, "ListModels", { task: "tensor" })).models.length).toBe(all.length);
    expect((await call(registry, "ListModels", { task: "img2txt" })).models).toEqual([]);
    expect(await call(registry, "GetModel", { name: "g-list" })).toMatchObject({ name: "g-list", inputs: protoSpecs(FIXTURE_SIGNATURES.fixedShape.inputs) });
  });

  test("UpdateModelConfig merges the patch; null returns a key to its default", async () => {
    await register("g-update", fixtures.add, { config_json: JSON.stringify({ maxBatchSize: 8 }) });
    const updated = await call(registry, "UpdateModelConfig", { name: "g-update", config_json: JSON.stringify({ maxQueueDelayMicroseconds: 500 }) });
    expect(JSON.parse(updated.config_json)).toMatchObject({ maxBatchSize: 8, maxQueueDelayMicroseconds: 500 });
    const reset = await call(registry, "UpdateModelConfig", { name: "g-update", config_json: JSON.stringify({ maxBatchSize: null }) });
    expect(JSON.parse(reset.config_json)).toMatchObject({ maxBatchSize: DEFAULT_MAX_BATCH_SIZE, maxQueueDelayMicroseconds: 500 });
  });

  test("a second version registers beside the first; SetActiveVersion switches to it", async () => {
    await register("g-versions", fixtures.add);
    const second = await call(registry, "RegisterModel", { name: "g-versions", version: "2", task: "tensor", source: fixtures.add });
    expect(second.active_version).toBe("1");
    expect(second.versions.map((version: { version: string }) => version.version)).toEqual(["1", "2"]);
    expect((await call(registry, "SetActiveVersion", { name: "g-versions", version: "2" })).active_version).toBe("2");
    expect((await call(registry, "GetModel", { name: "g-versions" })).active_version).toBe("2");
  });

  test("DeleteModel answers the model as it was, then it is gone", async () => {
    await register("g-delete", fixtures.add);
    expect(await call(registry, "DeleteModel", { name: "g-delete" })).toMatchObject({ name: "g-delete", state: "unloaded" });
    expect(await failure(call(registry, "GetModel", { name: "g-delete" }))).toMatchObject({ status: grpc.status.NOT_FOUND, code: "MODEL_NOT_FOUND" });
  });

  test("an unknown model is NOT_FOUND with x-modelmora-code MODEL_NOT_FOUND, on every RPC that names one", async () => {
    const notFound = { status: grpc.status.NOT_FOUND, code: "MODEL_NOT_FOUND" };
    expect(await failure(call(registry, "GetModel", { name: "g-nope" }))).toMatchObject({ ...notFound, message: expect.stringContaining("g-nope") });
    expect(await failure(call(registry, "UpdateModelConfig", { name: "g-nope", config_json: "{}" }))).toMatchObject(notFound);
    expect(await failure(call(registry, "DeleteModel", { name: "g-nope" }))).toMatchObject(notFound);
    expect(await failure(call(registry, "SetActiveVersion", { name: "g-nope", version: "1" }))).toMatchObject(notFound);
  });

  test("an unknown version is NOT_FOUND VERSION_NOT_FOUND", async () => {
    await register("g-one-version", fixtures.add);
    expect(await failure(call(registry, "SetActiveVersion", { name: "g-one-version", version: "9" }))).toMatchObject({ status: grpc.status.NOT_FOUND, code: "VERSION_NOT_FOUND" });
  });

  test("registering an existing version is ALREADY_EXISTS MODEL_ALREADY_EXISTS", async () => {
    await register("g-dup", fixtures.add);
    expect(await failure(register("g-dup", fixtures.add))).toMatchObject({ status: grpc.status.ALREADY_EXISTS, code: "MODEL_ALREADY_EXISTS" });
  });

  test("a bad config is INVALID_ARGUMENT INVALID_INPUT naming the key, and nothing is stored", async () => {
    const invalid = (field: string) => ({ status: grpc.status.INVALID_ARGUMENT, code: "INVALID_INPUT", details: { field } });
    expect(await failure(register("g-bad", fixtures.add, { config_json: JSON.stringify({ maxBatchSize: -1 }) }))).toMatchObject(invalid("config_json.maxBatchSize"));
    expect(await failure(register("g-bad", fixtures.add, { config_json: JSON.stringify({ maxBatchSize: "eight" }) }))).toMatchObject(invalid("config_json.maxBatchSize"));
    expect(await failure(register("g-bad", fixtures.add, { config_json: JSON.stringify({ maxBatchSise: 8 }) }))).toMatchObject(invalid("config_json.maxBatchSise"));
    expect(await failure(register("g-bad", fixtures.add, { config_json: JSON.stringify({ device: "tpu" }) }))).toMatchObject(invalid("config_json.device"));
    expect(await failure(register("g-bad", fixtures.add, { config_json: "{ not json" }))).toMatchObject(invalid("config_json"));
    expect(await failure(register("g-bad", fixtures.add, { config_json: "[1, 2]" }))).toMatchObject(invalid("config_json"));
    expect(await failure(call(registry, "GetModel", { name: "g-bad" }))).toMatchObject({ code: "MODEL_NOT_FOUND" });

    await register("g-patch", fixtures.add);
    expect(await failure(call(registry, "UpdateModelConfig", { name: "g-patch", config_json: JSON.stringify({ replicas: 0 }) }))).toMatchObject(invalid("config_json.replicas"));
    expect(await failure(call(registry, "UpdateModelConfig", { name: "g-patch", config_json: "" }))).toMatchObject(invalid("config_json"));
  });

  test("a bad name, checksum, task or source is INVALID_ARGUMENT", async () => {
    const invalid = { status: grpc.status.INVALID_ARGUMENT, code: "INVALID_INPUT" };
    expect(await failure(register("-leading-dash", fixtures.add))).toMatchObject({ ...invalid, details: { field: "name" } });
    expect(await failure(register("g-sha", fixtures.add, { sha256: "abc" }))).toMatchObject({ ...invalid, details: { field: "sha256" } });
    expect(await failure(register("g-task", fixtures.add, { task: "no-such-task" }))).toMatchObject({ ...invalid, details: { field: "task" } });
    expect(await failure(register("g-checksum", fixtures.add, { sha256: "0".repeat(64) }))).toMatchObject({ status: grpc.status.INVALID_ARGUMENT, code: "CHECKSUM_MISMATCH" });
    expect(await failure(register("g-source", "relative/model.onnx"))).toMatchObject({ status: grpc.status.INVALID_ARGUMENT });
  });
});

describe("InferenceService.Infer", () => {
  const a = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const b = Float32Array.from([0.5, 0.25, -1, 10, 100, -7, 0, 1.5]);
  const typedInputs = [
    { name: "a", datatype: "FP32", shape: [2, 4], contents: { fp32_contents: Array.from(a) } },
    { name: "b", datatype: "FP32", shape: [2, 4], contents: { fp32_contents: Array.from(b) } },
  ];

  beforeAll(async () => {
    await register("g-infer", fixtures.add);
  });

  test("typed inputs get typed outputs equal to referenceAdd, with model, version and id", async () => {
    const response = await call(inference, "Infer", { model: "g-infer", id: "typed-1", inputs: typedInputs });
    expect(response).toMatchObject({ model_name: "g-infer", model_version: "1", id: "typed-1", raw_output_contents: [] });
    expect(response.outputs).toHaveLength(1);
    expect(response.outputs[0]).toMatchObject({ name: "sum", datatype: "FP32", shape: ["2", "4"] });
    expectClose(response.outputs[0].contents.fp32_contents, referenceAdd(a, b));
  });

  test("raw inputs get raw outputs equal to referenceAdd", async () => {
    const response = await call(inference, "Infer", {
      model: "g-infer",
      version: "1",
      id: "raw-1",
      priority: 1,
      timeout_ms: 30_000,
      keep_alive_seconds: 60,
      inputs: [
        { name: "a", datatype: "FP32", shape: [2, 4] },
        { name: "b", datatype: "FP32", shape: [2, 4] },
      ],
      raw_input_contents: [Buffer.from(a.buffer), Buffer.from(b.buffer)],
    });
    expect(response).toMatchObject({ model_name: "g-infer", model_version: "1", id: "raw-1" });
    expect(response.outputs[0]).toMatchObject({ name: "sum", datatype: "FP32", shape: ["2", "4"], contents: null });
    const raw: Buffer = response.raw_output_contents[0];
    expectClose(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), referenceAdd(a, b));
  });

  test("x-priority metadata is accepted when the request's priority is 0", async () => {
    const metadata = new grpc.Metadata();
    metadata.set("x-priority", "high");
    const response = await call(inference, "Infer", { model: "g-infer", inputs: typedInputs }, metadata);
    expectClose(response.outputs[0].contents.fp32_contents, referenceAdd(a, b));
  });

  test("errors map to gRPC statuses with the domain code", async () => {
    expect(await failure(call(inference, "Infer", { model: "g-missing", inputs: typedInputs }))).toMatchObject({ status: grpc.status.NOT_FOUND, code: "MODEL_NOT_FOUND" });
    expect(await failure(call(inference, "Infer", { model: "", inputs: typedInputs }))).toMatchObject({ status: grpc.status.INVALID_ARGUMENT, details: { field: "model" } });
    expect(await failure(call(inference, "Infer", { model: "g-infer", priority: 7, inputs: typedInputs }))).toMatchObject({
      status: grpc.status.INVALID_ARGUMENT,
      code: "INVALID_INPUT",
      details: { field: "priority" },
    });
    const badPriority = new grpc.Metadata();
    badPriority.set("x-priority", "urgent");
    expect(await failure(call(inference, "Infer", { model: "g-infer", inputs: typedInputs }, badPriority))).toMatchObject({ status: grpc.status.INVALID_ARGUMENT, details: { field: "x-priority" } });
    expect(await failure(call(inference, "Infer", { model: "g-infer", inputs: [typedInputs[0]] }))).toMatchObject({ status: grpc.status.INVALID_ARGUMENT, code: "INVALID_INPUT" });
    expect(await failure(call(inference, "Infer", { model: "g-infer", inputs: typedInputs, outputs: [{ name: "nope" }] }))).toMatchObject({
      status: grpc.status.INVALID_ARGUMENT,
      details: { field: "outputs[0].name" },
    });
    expect(await failure(call(inference, "Infer", { model: "g-infer", inputs: typedInputs, raw_input_contents: [Buffer.alloc(32)] }))).toMatchObject({
      status: grpc.status.INVALID_ARGUMENT,
      details: { field: "raw_input_contents" },
    });
    expect(await failure(call(inference, "Infer", { model: "g-infer", inputs: typedInputs, keep_alive_seconds: -2 }))).toMatchObject({ details: { field: "keep_alive_seconds" } });
  });
});

describe("ManagementService", () => {
  beforeAll(async () => {
    await register("g-manage", fixtures.add);
  });

  test("LoadModel starts the worker and answers its status; GetSystemStatus lists it with memory and queue totals", async () => {
    const loaded = await call(management, "LoadModel", { name: "g-manage" });
    expect(loaded).toMatchObject({ name: "g-manage", version: "1", state: "ready", provider: "cpu", last_error: "" });
    expect(loaded.pid).toBeGreaterThan(0);
    expect(loaded.pids).toEqual([loaded.pid]);
    expect(Number(loaded.loads)).toBeGreaterThanOrEqual(1);

    const status = await call(management, "GetSystemStatus", {});
    const entry = status.models.find((model: { name: string }) => model.name === "g-manage");
    expect(entry).toMatchObject({ version: "1", state: "ready", pid: loaded.pid });
    expect(Number(entry.rss_bytes)).toBeGreaterThan(0);
    expect(Number(status.memory.server_rss_bytes)).toBeGreaterThan(0);
    expect(Number(status.memory.workers_rss_bytes)).toBeGreaterThanOrEqual(Number(entry.rss_bytes));
    // Earlier Infer tests went through the queue: the totals and the per-version figures say so.
    expect(Number(status.queue.dispatched)).toBeGreaterThan(0);
    const inferQueue = Object.entries(status.queue.models as Record<string, { dispatched: string }>).find(([key]) => key.startsWith("g-infer@1#"));
    expect(Number(inferQueue?.[1].dispatched)).toBeGreaterThan(0);
  });

  test("GetModelHealth reports every model's active version, or one by name; unknown names are NOT_FOUND", async () => {
    const all = await call(management, "GetModelHealth", {});
    expect(all.models.map((model: { name: string }) => model.name)).toEqual(expect.arrayContaining(["g-manage", "g-list"]));
    expect(all.models.find((model: { name: string }) => model.name === "g-list")).toMatchObject({ state: "unloaded", pid: 0, provider: "" });
    const one = await call(management, "GetModelHealth", { name: "g-manage" });
    expect(one.models).toEqual([expect.objectContaining({ name: "g-manage", state: "ready" })]);
    expect(await failure(call(management, "GetModelHealth", { name: "g-nope" }))).toMatchObject({ status: grpc.status.NOT_FOUND, code: "MODEL_NOT_FOUND" });
  });

  test("UnloadModel stops the worker: the system status no longer lists it and health says unloaded", async () => {
    expect(await call(management, "UnloadModel", { name: "g-manage" })).toEqual({ name: "g-manage", state: "unloaded" });
    const status = await call(management, "GetSystemStatus", {});
    expect(status.models.map((model: { name: string }) => model.name)).not.toContain("g-manage");
    expect((await call(management, "GetModelHealth", { name: "g-manage" })).models[0]).toMatchObject({ state: "unloaded", pid: 0 });
    expect(await failure(call(management, "UnloadModel", { name: "g-nope" }))).toMatchObject({ status: grpc.status.NOT_FOUND, code: "MODEL_NOT_FOUND" });
    expect(await failure(call(management, "LoadModel", { name: "g-manage", version: "7" }))).toMatchObject({ status: grpc.status.NOT_FOUND, code: "VERSION_NOT_FOUND" });
  });

  test("Live is always live; Ready follows readiness and answers the reason instead of failing", async () => {
    expect(await call(management, "Live", {})).toEqual({ live: true });
    expect(await call(management, "Ready", {})).toEqual({ ready: true, status: "ready" });
    readiness.preloaded = false;
    expect(await call(management, "Ready", {})).toEqual({ ready: false, status: "preloading" });
    readiness.accepting = false;
    expect(await call(management, "Ready", {})).toEqual({ ready: false, status: "shutting_down" });
    readiness.accepting = true;
    readiness.preloaded = true;
  });
});
