/**
 * Metrics and access logs of a real `serve` process, over real sockets: a scrape of /metrics,
 * parsed as Prometheus text, shows request counters and the latency, queue, compute and batch-size
 * histograms moving with inference traffic on REST and on gRPC; every request gets one access line
 * carrying its request id, which the response echoes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { type Client, type GrpcObject, Metadata, type ServiceClientConstructor, type ServiceError, credentials } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { type FixtureModels, writeFixtureModels } from "../fixtures/models.ts";
import { type Exposition, parsePrometheusText } from "../support/prometheus-text.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";

const { grpcObject } = loadProtos(["kserve/grpc_predict_v2.proto"]);
const KServeClient = (grpcObject.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;

const ADD_BODY = {
  inputs: [
    { name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] },
    { name: "b", shape: [1, 4], datatype: "FP32", data: [4, 3, 2, 1] },
  ],
};

let directory: TemporaryDirectory;
let fixtures: FixtureModels;
let database: TestDatabase;
let server: ServerProcess;
let grpc: Client & Record<string, any>;

beforeAll(async () => {
  directory = await temporaryDirectory();
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  database = await testDatabase(dataDir);
  server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
  grpc = new KServeClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure()) as Client & Record<string, any>;
});

afterAll(async () => {
  grpc?.close();
  await server?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

async function register(name: string): Promise<void> {
  const response = await fetch(`${server.baseUrl}/api/v1/models`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, version: "1", task: "tensor", source: fixtures.add }),
  });
  expect(response.status).toBe(201);
}

function restInfer(model: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.baseUrl}/api/v1/infer/${model}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(ADD_BODY) });
}

function grpcInfer(model: string, metadata = new Metadata()): Promise<any> {
  const request = {
    model_name: model,
    inputs: ADD_BODY.inputs.map((input) => ({ name: input.name, datatype: input.datatype, shape: input.shape.map(String), contents: { fp32_contents: input.data } })),
  };
  return new Promise((resolve, reject) =>
    grpc.ModelInfer(request, metadata, { deadline: Date.now() + 30_000 }, (error: ServiceError | null, response: unknown) => (error ? reject(error) : resolve(response))),
  );
}

async function scrape(): Promise<Exposition> {
  const response = await fetch(`${server.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toStartWith("text/plain");
  return parsePrometheusText(await response.text());
}

describe("/metrics", () => {
  test("counters and histograms move with REST and gRPC inference; gauges show the loaded worker", async () => {
    await register("metered");
    const before = await scrape();
    const model = { model: "metered", version: "1" };
    expect(before.value("modelmora_requests_total", { ...model, protocol: "rest", code: "200" })).toBeUndefined();

    for (let index = 0; index < 3; index++) expect((await restInfer("metered")).status).toBe(200);
    for (let index = 0; index < 2; index++) expect((await grpcInfer("metered")).model_version).toBe("1");
    expect((await restInfer("metered-missing")).status).toBe(404);

    const after = await scrape();
    expect(after.types.get("modelmora_requests_total")).toBe("counter");
    for (const histogram of ["modelmora_request_duration_seconds", "modelmora_queue_duration_seconds", "modelmora_compute_duration_seconds", "modelmora_batch_size"]) {
      expect(after.types.get(histogram)).toBe("histogram");
    }
    expect(after.value("modelmora_requests_total", { ...model, protocol: "rest", code: "200" })).toBe(3);
    expect(after.value("modelmora_requests_total", { ...model, protocol: "grpc", code: "OK" })).toBe(2);
    expect(after.value("modelmora_requests_total", { model: "metered-missing", protocol: "rest", code: "404" })).toBe(1);
    expect(after.value("modelmora_request_duration_seconds_count", { ...model, protocol: "rest" })).toBe(3);
    expect(after.value("modelmora_request_duration_seconds_count", { ...model, protocol: "grpc" })).toBe(2);
    expect(after.value("modelmora_request_duration_seconds_sum", { ...model, protocol: "rest" })).toBeGreaterThan(0);
    expect(after.value("modelmora_request_duration_seconds_bucket", { ...model, protocol: "rest", le: "+Inf" })).toBe(3);
    // Every request was queued once and ran in some batch: five requests, one row each.
    expect(after.value("modelmora_queue_duration_seconds_count", model)).toBe(5);
    expect(after.value("modelmora_batch_size_sum", model)).toBe(5);
    const batches = after.value("modelmora_batch_size_count", model)!;
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(after.value("modelmora_compute_duration_seconds_count", model)).toBe(batches);
    expect(after.value("modelmora_compute_duration_seconds_sum", model)).toBeGreaterThan(0);
    expect(after.value("modelmora_queue_depth", model)).toBe(0);
    expect(after.value("modelmora_loaded_models")).toBeGreaterThanOrEqual(1);
    expect(after.value("modelmora_worker_rss_bytes", model)).toBeGreaterThan(1024 * 1024);
    expect(after.value("modelmora_model_loads_total", model)).toBe(1);
    expect(after.value("process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);

    // Unload: the loaded gauge and RSS drop; the load counter stays.
    expect((await fetch(`${server.baseUrl}/api/v1/models/metered/unload`, { method: "POST" })).status).toBe(200);
    const unloaded = await scrape();
    expect(unloaded.value("modelmora_worker_rss_bytes", model)).toBeUndefined();
    expect(unloaded.value("modelmora_model_loads_total", model)).toBe(1);
    expect(unloaded.value("modelmora_requests_total", { ...model, protocol: "rest", code: "200" })).toBe(3);
  });
});

describe("access log", () => {
  test("one line per request with its request id (taken from x-request-id or generated, echoed in the response), on REST and gRPC", async () => {
    await register("logged");
    const given = ["req-ok-1", "req-ok-2", "req-missing"];
    expect((await restInfer("logged", { "x-request-id": given[0]! })).headers.get("x-request-id")).toBe(given[0]!);
    expect((await restInfer("logged", { "x-request-id": given[1]! })).status).toBe(200);
    const missing = await restInfer("logged-missing", { "x-request-id": given[2]! });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toBe(given[2]!);
    const anonymous = await fetch(`${server.baseUrl}/api/v1/models/logged`);
    const generated = anonymous.headers.get("x-request-id");
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    await grpcInfer("logged", (() => {
      const metadata = new Metadata();
      metadata.set("x-request-id", "req-grpc");
      return metadata;
    })());

    const lineFor = (id: string) => server.waitForLog((line) => line.event === "request" && line.request_id === id);
    expect(await lineFor(given[0]!)).toMatchObject({ method: "POST", route: "/api/v1/infer/:name", path: "/api/v1/infer/logged", model: "logged", version: "1", status: 200 });
    expect(await lineFor(given[2]!)).toMatchObject({ method: "POST", model: "logged-missing", status: 404 });
    expect(await lineFor(generated!)).toMatchObject({ method: "GET", route: "/api/v1/models/:name", model: "logged", status: 200 });
    expect(await lineFor("req-grpc")).toMatchObject({ protocol: "grpc", method: "/inference.GRPCInferenceService/ModelInfer", model: "logged", version: "1", status: "OK" });
    expect(await server.waitForLog((line) => line.event === "model_registered" && line.model === "logged")).toMatchObject({ version: "1", task: "tensor", sha256: expect.any(String) });
    expect((await fetch(`${server.baseUrl}/api/v1/models/logged`, { method: "DELETE" })).status).toBe(200);
    expect(await server.waitForLog((line) => line.event === "model_deleted" && line.model === "logged")).toMatchObject({ versions: ["1"] });
    for (const id of [...given, generated!, "req-grpc"]) {
      const lines = server.logs.filter((line) => line.event === "request" && line.request_id === id);
      expect(lines).toHaveLength(1);
      expect(typeof lines[0]!.duration_ms).toBe("number");
    }
  });
});
