/**
 * The REST contract, in process (`app.handle(new Request(…))`, no sockets), over the real core:
 * a real database, real model cache, real worker processes running onnxruntime.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ServerCore } from "../../src/server.ts";
import {
  FIXTURE_SIGNATURES,
  type FixtureModels,
  referenceAdd,
  referenceFixedShape,
  referenceMatmulRelu,
  referenceTwoInTwoOut,
} from "../fixtures/models.ts";
import { type CoreFixture, startCore, type AppAnswer, callApp } from "../support/core-fixture.ts";

/** Float outputs of these tiny models are exact in float32; 1e-6 leaves room for summation order. */
const TOLERANCE = 1e-6;

let fixture: CoreFixture;
let core: ServerCore;
let fixtures: FixtureModels;

beforeAll(async () => {
  fixture = await startCore({ maxBodyMb: "1" });
  ({ core, fixtures } = fixture);
});

afterAll(async () => fixture[Symbol.asyncDispose]());

function call(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<AppAnswer> {
  return callApp(core.app, method, route, body, headers);
}

function register(name: string, source: string, extra: Record<string, unknown> = {}) {
  return call("POST", "/api/v1/models", { name, version: "1", task: "tensor", source, ...extra });
}

function expectClose(actual: number[], expected: ArrayLike<number>) {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, index) => expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(TOLERANCE));
}

describe("REST: models", () => {
  test("POST /api/v1/models answers 201 with the model object of DESIGN §10", async () => {
    const response = await register("r-add", fixtures.add, { config: { maxBatchSize: 16, maxQueueDelayMicroseconds: 2000 } });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      name: "r-add",
      task: "tensor",
      activeVersion: "1",
      inputs: FIXTURE_SIGNATURES.add.inputs,
      outputs: FIXTURE_SIGNATURES.add.outputs,
      state: "unloaded",
      config: { maxBatchSize: 16, maxQueueDelayMicroseconds: 2000, device: "auto" },
    });
    expect(response.body.versions).toEqual([expect.objectContaining({ version: "1", sha256: expect.stringMatching(/^[0-9a-f]{64}$/), sizeBytes: Bun.file(fixtures.add).size })]);
  });

  test("GET lists (with a task filter) and fetches one; unknown names are 404 MODEL_NOT_FOUND", async () => {
    await register("r-list", fixtures.fixedShape);
    const all = await call("GET", "/api/v1/models");
    expect(all.status).toBe(200);
    expect(all.body.map((model: { name: string }) => model.name)).toContain("r-list");
    expect((await call("GET", "/api/v1/models?task=tensor")).body.length).toBe(all.body.length);
    expect((await call("GET", "/api/v1/models?task=img2txt")).body).toEqual([]);
    const one = await call("GET", "/api/v1/models/r-list");
    expect(one.body).toMatchObject({ name: "r-list", inputs: FIXTURE_SIGNATURES.fixedShape.inputs });
    const missing = await call("GET", "/api/v1/models/nope");
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: expect.stringContaining("nope"), code: "MODEL_NOT_FOUND", details: { name: "nope" } });
  });

  test("PUT updates config; unknown config keys and wrong types are 400 INVALID_INPUT naming the field", async () => {
    await register("r-put", fixtures.add);
    const updated = await call("PUT", "/api/v1/models/r-put", { config: { replicas: 2, keepAliveSeconds: -1 } });
    expect(updated.status).toBe(200);
    expect(updated.body.config).toMatchObject({ replicas: 2, keepAliveSeconds: -1 });
    const wrongType = await call("PUT", "/api/v1/models/r-put", { config: { replicas: "two" } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.code).toBe("INVALID_INPUT");
    expect(wrongType.body.details.field).toBe("config.replicas");
    const unknownKey = await call("PUT", "/api/v1/models/r-put", { config: { turbo: true } });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body.code).toBe("INVALID_INPUT");
    expect((await call("PUT", "/api/v1/models/nope", { config: {} })).status).toBe(404);
  });

  test("registration errors: duplicate → 409, checksum mismatch → 400, corrupt file → 422, bad source → 400, bad name → 400", async () => {
    await register("r-dup", fixtures.add);
    const duplicate = await register("r-dup", fixtures.add);
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe("MODEL_ALREADY_EXISTS");

    const mismatch = await register("r-sha", fixtures.add, { sha256: "a".repeat(64) });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.code).toBe("CHECKSUM_MISMATCH");

    const corrupt = await register("r-corrupt", fixtures.corrupt);
    expect(corrupt.status).toBe(422);
    expect(corrupt.body.code).toBe("MODEL_LOAD_FAILED");

    const relative = await register("r-rel", "models/add.onnx");
    expect(relative.status).toBe(400);
    expect(relative.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "source" } });

    // Inside the directories the source policy allows (startCore: the fixture directory), a missing file is SOURCE_UNAVAILABLE…
    const missingFile = await register("r-missing", path.join(path.dirname(fixtures.add), "absent.onnx"));
    expect(missingFile.status).toBe(400);
    expect(missingFile.body.code).toBe("SOURCE_UNAVAILABLE");
    // …outside them, it is refused without saying whether it exists.
    const outside = await register("r-outside", "/nonexistent/file.onnx");
    expect(outside.status).toBe(403);
    expect(outside.body).toMatchObject({ code: "FORBIDDEN", error: "source not allowed by policy" });

    const badName = await register("../etc", fixtures.add);
    expect(badName.status).toBe(400);
    expect(badName.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "name" } });

    // version and task have defaults ("1", "tensor"); source does not.
    const missingField = await call("POST", "/api/v1/models", { name: "r-x", version: "1", task: "tensor" });
    expect(missingField.status).toBe(400);
    expect(missingField.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "source" } });

    const listed = (await call("GET", "/api/v1/models")).body.map((model: { name: string }) => model.name);
    for (const name of ["r-sha", "r-corrupt", "r-rel", "r-missing", "r-x"]) expect(listed).not.toContain(name);
  });

  test("versions: a second version is registered, switched to, and served; DELETE removes everything", async () => {
    await register("r-ver", fixtures.add);
    const second = await call("POST", "/api/v1/models", { name: "r-ver", version: "2", task: "tensor", source: fixtures.fixedShape });
    expect(second.status).toBe(201);
    expect(second.body.activeVersion).toBe("1");
    const x = [1, 2, 3, 4, 5, 6];
    const before = await call("POST", "/api/v1/infer/r-ver", { inputs: [{ name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }, { name: "b", shape: [1, 4], datatype: "FP32", data: [1, 1, 1, 1] }] });
    expect(before.body.model_version).toBe("1");
    const switched = await call("POST", "/api/v1/models/r-ver/versions/2");
    expect(switched.status).toBe(200);
    expect(switched.body.activeVersion).toBe("2");
    const after = await call("POST", "/api/v1/infer/r-ver", { inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: x }] });
    expect(after.status).toBe(200);
    expect(after.body.model_version).toBe("2");
    expectClose(after.body.outputs[0].data, referenceFixedShape(Float32Array.from(x)));
    expect((await call("POST", "/api/v1/models/r-ver/versions/7")).body.code).toBe("VERSION_NOT_FOUND");

    const pid = core.pool.status().find((worker) => worker.name === "r-ver")!.pid!;
    const deleted = await call("DELETE", "/api/v1/models/r-ver");
    expect(deleted.status).toBe(200);
    expect(core.pool.status().some((worker) => worker.name === "r-ver")).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    expect((await call("GET", "/api/v1/models/r-ver")).status).toBe(404);
    expect((await call("DELETE", "/api/v1/models/r-ver")).status).toBe(404);
  });
});

describe("REST: inference", () => {
  beforeAll(async () => {
    await register("i-add", fixtures.add);
    await register("i-mm", fixtures.matmulRelu);
    await register("i-two", fixtures.twoInTwoOut);
    await register("i-fixed", fixtures.fixedShape);
  });

  test("add: outputs equal the reference, the id is echoed, nested data is accepted", async () => {
    const a = [0.5, 1, 1.5, 2, -1, -2, 3, 4];
    const b = [1, 1, 1, 1, 0.25, 0.25, 0.25, 0.25];
    const response = await call("POST", "/api/v1/infer/i-add", {
      id: "req-1",
      inputs: [
        { name: "a", shape: [2, 4], datatype: "FP32", data: [a.slice(0, 4), a.slice(4)] },
        { name: "b", shape: [2, 4], datatype: "FP32", data: b },
      ],
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ model_name: "i-add", model_version: "1", id: "req-1" });
    expect(response.body.outputs).toHaveLength(1);
    expect(response.body.outputs[0]).toMatchObject({ name: "sum", datatype: "FP32", shape: [2, 4] });
    expectClose(response.body.outputs[0].data, referenceAdd(Float32Array.from(a), Float32Array.from(b)));
  });

  test("matmulRelu over a batch of 5 equals the reference", async () => {
    const x = Float32Array.from({ length: 5 * 8 }, (_, index) => ((index * 13) % 17) / 8 - 1);
    const response = await call("POST", "/api/v1/infer/i-mm", { inputs: [{ name: "x", shape: [5, 8], datatype: "FP32", data: Array.from(x) }] });
    expect(response.status).toBe(200);
    expect(response.body.outputs[0].shape).toEqual([5, 4]);
    expectClose(response.body.outputs[0].data, referenceMatmulRelu(x, 5));
  });

  test("two inputs, two outputs with INT64; requested-output filtering returns only what was asked", async () => {
    const x = [0.5, 1.5, 2.5];
    const n = [3, -4, 5];
    const inputs = [
      { name: "x", shape: [1, 3], datatype: "FP32", data: x },
      { name: "n", shape: [1, 3], datatype: "INT64", data: n },
    ];
    const reference = referenceTwoInTwoOut(Float32Array.from(x), BigInt64Array.from(n.map(BigInt)));
    const both = await call("POST", "/api/v1/infer/i-two", { inputs });
    expect(both.status).toBe(200);
    const byName = Object.fromEntries(both.body.outputs.map((output: { name: string }) => [output.name, output]));
    expectClose(byName.sum.data, reference.sum);
    expect(byName.square).toMatchObject({ datatype: "INT64", shape: [1, 3], data: Array.from(reference.square, Number) });
    const filtered = await call("POST", "/api/v1/infer/i-two", { inputs, outputs: [{ name: "square" }] });
    expect(filtered.body.outputs.map((output: { name: string }) => output.name)).toEqual(["square"]);
    const unknownOutput = await call("POST", "/api/v1/infer/i-two", { inputs, outputs: [{ name: "nope" }] });
    expect(unknownOutput.status).toBe(400);
    expect(unknownOutput.body.details.field).toBe("outputs[0].name");
  });

  test("bad tensors are 400 INVALID_INPUT naming the offending field, and the model keeps serving", async () => {
    const good = { name: "x", shape: [2, 3], datatype: "FP32", data: [1, 2, 3, 4, 5, 6] };
    const cases: [unknown, string][] = [
      [{ inputs: [{ ...good, name: "y" }] }, "inputs[0].name"],
      [{ inputs: [{ ...good, datatype: "INT32" }] }, "inputs[0].datatype"],
      [{ inputs: [{ ...good, datatype: "FLOAT" }] }, "inputs[0].datatype"],
      [{ inputs: [{ ...good, shape: [6] }] }, "inputs[0].shape"],
      [{ inputs: [{ ...good, shape: [3, 2] }] }, "inputs[0].shape"],
      [{ inputs: [{ ...good, data: [1, 2, 3] }] }, "inputs[0].data"],
      [{ inputs: [{ ...good, data: [1, 2, 3, 4, 5, "six"] }] }, "inputs[0].data"],
      [{ inputs: [good, good] }, "inputs[1].name"],
      [{ inputs: [] }, "inputs"],
      [{ inputs: [{ ...good, shape: [2, -3] }] }, "inputs[0].shape[1]"],
      [{ inputs: [good], parameters: { priority: 9 } }, "parameters.priority"],
    ];
    for (const [body, field] of cases) {
      const response = await call("POST", "/api/v1/infer/i-fixed", body);
      expect({ field, status: response.status, code: response.body.code }).toEqual({ field, status: 400, code: "INVALID_INPUT" });
      expect(response.body.details.field).toBe(field);
      expect(JSON.stringify(response.body)).not.toContain("    at ");
    }
    const badHeader = await call("POST", "/api/v1/infer/i-fixed", { inputs: [good] }, { "x-priority": "urgent" });
    expect(badHeader.body.details.field).toBe("x-priority");
    const malformed = await call("POST", "/api/v1/infer/i-fixed", "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual({ error: expect.any(String), code: "INVALID_INPUT", details: { field: "body" } });
    const fine = await call("POST", "/api/v1/infer/i-fixed", { inputs: [good] }, { "x-priority": "high" });
    expect(fine.status).toBe(200);
  });

  test("a body over MODELMORA_MAX_BODY_MB is 413 PAYLOAD_TOO_LARGE with the error body", async () => {
    const body = JSON.stringify({ inputs: [{ name: "x", shape: [1, 300_000], datatype: "FP32", data: new Array(300_000).fill(0.5) }] });
    const response = await core.app.handle(
      new Request("http://localhost/api/v1/infer/i-fixed", {
        method: "POST",
        body,
        headers: { "content-type": "application/json", "content-length": String(body.length) },
      }),
    );
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { limitBytes: 1024 * 1024 } });
  });

  test("inference on an unknown model is 404 MODEL_NOT_FOUND; an unknown route is 404 ROUTE_NOT_FOUND", async () => {
    const unknownModel = await call("POST", "/api/v1/infer/ghost", { inputs: [{ name: "x", shape: [1], datatype: "FP32", data: [1] }] });
    expect(unknownModel.status).toBe(404);
    expect(unknownModel.body.code).toBe("MODEL_NOT_FOUND");
    const unknownRoute = await call("GET", "/api/v1/nothing-here");
    expect(unknownRoute.status).toBe(404);
    expect(unknownRoute.body.code).toBe("ROUTE_NOT_FOUND");
  });
});

describe("REST: management and health", () => {
  test("load and unload control the worker; status shows pid, RSS and provider", async () => {
    await register("m-load", fixtures.matmulRelu);
    const loaded = await call("POST", "/api/v1/models/m-load/load");
    expect(loaded.status).toBe(200);
    expect(loaded.body).toMatchObject({ name: "m-load", version: "1", state: "ready", provider: "cpu" });
    const pid = loaded.body.pid as number;
    expect(() => process.kill(pid, 0)).not.toThrow();
    const status = await call("GET", "/api/v1/status");
    const entry = status.body.models.find((model: { name: string }) => model.name === "m-load");
    expect(entry).toMatchObject({ name: "m-load", version: "1", state: "ready", pid, provider: "cpu" });
    expect(entry.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(status.body.memory.workersRssBytes).toBeGreaterThanOrEqual(entry.rssBytes);
    expect((await call("GET", "/api/v1/models/m-load")).body.state).toBe("ready");

    const unloaded = await call("POST", "/api/v1/models/m-load/unload");
    expect(unloaded.status).toBe(200);
    expect(() => process.kill(pid, 0)).toThrow();
    expect((await call("GET", "/api/v1/models/m-load")).body.state).toBe("unloaded");
    expect((await call("POST", "/api/v1/models/ghost/load")).status).toBe(404);
    expect((await call("POST", "/api/v1/models/ghost/unload")).status).toBe(404);
  });

  test("a model whose health-check inference fails 3 times in a row is unhealthy (503) until an explicit load with a fixed config", async () => {
    // A warmup shape the model rejects makes the health check fail, as a broken model would.
    await register("m-sick", fixtures.fixedShape, { config: { warmupShapes: { x: [5, 5] } } });
    const body = { inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", data: [1, 2, 3, 4, 5, 6] }] };
    // Three tries, each a fresh worker (the third after a 1 s backoff), then the model is marked.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const failed = await call("POST", "/api/v1/infer/m-sick", body);
      expect(failed.status).toBe(422);
      expect(failed.body.code).toBe("MODEL_LOAD_FAILED");
      expect(failed.body.error).toContain("health-check");
    }
    const marked = await call("POST", "/api/v1/infer/m-sick", body);
    expect(marked.status).toBe(503);
    expect(marked.body.code).toBe("UNHEALTHY_MODEL");
    expect((await call("GET", "/health/models")).body).toContainEqual(
      expect.objectContaining({ name: "m-sick", state: "unhealthy", loads: 0, consecutiveLoadFailures: 3, lastError: expect.stringContaining("health-check") }),
    );
    await call("PUT", "/api/v1/models/m-sick", { config: { warmupShapes: null } });
    expect((await call("POST", "/api/v1/models/m-sick/load")).body.state).toBe("ready");
    expect((await call("POST", "/api/v1/infer/m-sick", body)).status).toBe(200);
  });

  test("health endpoints and the OpenAPI document answer", async () => {
    expect(await call("GET", "/health/live")).toMatchObject({ status: 200, body: { status: "live" } });
    expect(await call("GET", "/health/ready")).toMatchObject({ status: 200, body: { status: "ready" } });
    const document = await call("GET", "/swagger/json");
    expect(document.status).toBe(200);
    expect(Object.keys(document.body.paths)).toEqual(expect.arrayContaining(["/api/v1/models", "/api/v1/infer/{name}", "/api/v1/status", "/health/ready"]));
    const page = await core.app.handle(new Request("http://localhost/swagger"));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
  });
});
