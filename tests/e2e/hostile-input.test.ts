/**
 * The hostile-input suite: property-based (fast-check), against a real `serve` process with real
 * workers, over REST JSON (/api/v1/infer and /v2), the KServe binary extension and gRPC (KServe
 * ModelInfer and modelmora.v1 Infer). Over 2,000 generated requests: garbled and truncated JSON,
 * wrong datatypes, huge, negative and non-integer shapes, mismatched data lengths, nesting up to
 * 200,000 deep, tampered binary framing, wrong priorities and timeouts, unknown models.
 *
 * Property: every answer is a success or a documented refusal (REST 400/404/413/415/422/429/503/504,
 * gRPC INVALID_ARGUMENT/NOT_FOUND/RESOURCE_EXHAUSTED/FAILED_PRECONDITION/UNAVAILABLE/DEADLINE_EXCEEDED)
 * with the JSON error body; never a 500 (INTERNAL or a worker failure), gRPC INTERNAL/UNKNOWN, or a
 * dropped connection. Afterwards the server answers valid requests correctly (checked against the
 * fixtures' references) and its workers are the same live processes as before (none crashed).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { type Client, type GrpcObject, Metadata, type ServiceClientConstructor, type ServiceError, credentials } from "@grpc/grpc-js";
import fc from "fast-check";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { referenceAdd, referenceTwoInTwoOut, writeFixtureModels } from "../fixtures/models.ts";
import { binaryCase, grpcCase, jsonCase, MODELS } from "../support/hostile-requests.ts";
import { processAlive } from "../support/processes.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";

/** Fixed so a failure replays; fast-check prints the shrunk counterexample and this seed. */
const SEED = 20261129;
const RUNS = { restJson: 500, kserveJson: 450, binary: 400, grpcKserve: 350, grpcModelmora: 350 };

const DOCUMENTED_HTTP = new Set([200, 400, 404, 413, 415, 422, 429, 503, 504]);
// gRPC status numbers: OK 0, INVALID_ARGUMENT 3, DEADLINE_EXCEEDED 4, NOT_FOUND 5, RESOURCE_EXHAUSTED 8, FAILED_PRECONDITION 9, UNAVAILABLE 14.
const DOCUMENTED_GRPC = new Set([0, 3, 4, 5, 8, 9, 14]);

let directory: TemporaryDirectory;
let database: TestDatabase;
let server: ServerProcess;
let kserve: Client & Record<string, any>;
let modelmora: Client & Record<string, any>;
let workersBefore: Map<string, number[]>;

beforeAll(async () => {
  directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  database = await testDatabase(dataDir);
  server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: { MODELMORA_MAX_BODY_MB: "1", MODELMORA_STANDBY_WORKERS: "0" } });
  const sources = { add: fixtures.add, two: fixtures.twoInTwoOut, fixed: fixtures.fixedShape } satisfies Record<(typeof MODELS)[number], string>;
  for (const name of MODELS) {
    const registered = await rest("POST", "/api/v1/models", JSON.stringify({ name, source: sources[name], config: { maxBatchSize: 8, maxQueueDelayMicroseconds: 500 } }));
    expect(registered.status).toBe(201);
    expect((await rest("POST", `/api/v1/models/${name}/load`, "")).status).toBe(200);
  }
  workersBefore = await workerPids();
  const { grpcObject } = loadProtos(["kserve/grpc_predict_v2.proto", ...MODELMORA_PROTO_FILES]);
  const address = `127.0.0.1:${server.grpcPort}`;
  kserve = new ((grpcObject.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor)(address, credentials.createInsecure()) as Client & Record<string, any>;
  const v1 = (grpcObject.modelmora as GrpcObject).v1 as GrpcObject;
  modelmora = new (v1.InferenceService as ServiceClientConstructor)(address, credentials.createInsecure()) as Client & Record<string, any>;
}, 60_000);

afterAll(async () => {
  kserve?.close();
  modelmora?.close();
  await server?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

/** One REST call; `text` is the JSON part of the answer (the header alone when the answer uses the binary extension). */
async function rest(method: string, route: string, body: string | Uint8Array, headers: Record<string, string> = { "content-type": "application/json" }): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.baseUrl}${route}`, { method, headers, body: method === "GET" ? undefined : body });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const headerLength = response.headers.get("inference-header-content-length");
  return { status: response.status, text: new TextDecoder().decode(headerLength === null ? bytes : bytes.subarray(0, Number(headerLength))) };
}

async function workerPids(): Promise<Map<string, number[]>> {
  const status = JSON.parse((await rest("GET", "/api/v1/status", "")).text) as { models: { name: string; pids: number[]; restarts: number; lastError: string | null; loads: number }[] };
  lastStatus = status.models;
  return new Map(status.models.map((model) => [model.name, model.pids]));
}

let lastStatus: unknown;

/** Answers seen, by protocol and status: shows how deep the generated requests got. */
const seen = new Map<string, number>();
function count(what: string, status: number): void {
  const key = `${what} ${status}`;
  seen.set(key, (seen.get(key) ?? 0) + 1);
}

/** A documented refusal carries the JSON error body; a 200 carries outputs. */
function checkHttpAnswer(answer: { status: number; text: string }, what: string): void {
  count(what, answer.status);
  if (!DOCUMENTED_HTTP.has(answer.status)) throw new Error(`${what}: undocumented status ${answer.status}: ${answer.text.slice(0, 300)}`);
  const body = JSON.parse(answer.text);
  if (answer.status === 200) {
    if (!Array.isArray(body.outputs)) throw new Error(`${what}: 200 without outputs`);
  } else if (typeof body.error !== "string" || typeof body.code !== "string") {
    throw new Error(`${what}: ${answer.status} without the JSON error body: ${answer.text.slice(0, 300)}`);
  }
}

function unary(client: Client & Record<string, any>, method: string, request: unknown): Promise<{ code: number; details: string }> {
  return new Promise((resolve) =>
    client[method](request, new Metadata(), { deadline: Date.now() + 30_000 }, (error: ServiceError | null) => resolve(error ? { code: error.code, details: error.details } : { code: 0, details: "" })),
  );
}

function checkGrpcAnswer(answer: { code: number; details: string }, what: string): void {
  count(what, answer.code);
  if (!DOCUMENTED_GRPC.has(answer.code)) throw new Error(`${what}: undocumented gRPC status ${answer.code}: ${answer.details.slice(0, 300)}`);
}

const settings = (numRuns: number) => ({ numRuns, seed: SEED, endOnFailure: true });

describe("hostile input never gets an undocumented answer", () => {
  test("REST JSON on /api/v1/infer/{model}", async () => {
    await fc.assert(
      fc.asyncProperty(jsonCase, async ({ model, body }) => checkHttpAnswer(await rest("POST", `/api/v1/infer/${encodeURIComponent(model)}`, body), "REST JSON")),
      settings(RUNS.restJson),
    );
  }, 60_000);

  test("KServe JSON on /v2/models/{model}/infer", async () => {
    await fc.assert(
      fc.asyncProperty(jsonCase, async ({ model, body }) => checkHttpAnswer(await rest("POST", `/v2/models/${encodeURIComponent(model)}/infer`, body), "KServe JSON")),
      settings(RUNS.kserveJson),
    );
  }, 60_000);

  test("KServe binary extension with tampered framing and sizes", async () => {
    await fc.assert(
      fc.asyncProperty(binaryCase, async ({ model, headerLength, body, honest }) => {
        const headers: Record<string, string> = { "content-type": "application/octet-stream", ...(headerLength !== undefined && { "inference-header-content-length": headerLength }) };
        const answer = await rest("POST", `/v2/models/${model}/infer`, body, headers);
        checkHttpAnswer(answer, "KServe binary");
        if (honest && answer.status !== 200) throw new Error(`a valid binary request was refused: ${answer.status} ${answer.text.slice(0, 300)}`);
      }),
      settings(RUNS.binary),
    );
  }, 60_000);

  test("gRPC KServe ModelInfer", async () => {
    await fc.assert(
      fc.asyncProperty(grpcCase, async (request) => {
        const answer = await unary(kserve, "ModelInfer", { model_name: request.model, model_version: request.version, inputs: request.inputs, raw_input_contents: request.raw });
        checkGrpcAnswer(answer, "gRPC ModelInfer");
      }),
      settings(RUNS.grpcKserve),
    );
  }, 60_000);

  test("gRPC modelmora.v1 Infer", async () => {
    await fc.assert(
      fc.asyncProperty(grpcCase, async (request) => {
        const answer = await unary(modelmora, "Infer", { model: request.model, version: request.version, priority: request.priority, timeout_ms: request.timeoutMs, inputs: request.inputs, raw_input_contents: request.raw });
        checkGrpcAnswer(answer, "gRPC modelmora.v1 Infer");
      }),
      settings(RUNS.grpcModelmora),
    );
  }, 60_000);
});

describe("after the hostile run", () => {
  test("the server answers valid requests correctly and its workers are the same live processes", async () => {
    const a = Float32Array.from([1.5, -2, 3.25, 4]);
    const b = Float32Array.from([0.5, 2, -8, 1e-3]);
    const added = await rest("POST", "/api/v1/infer/add", JSON.stringify({ inputs: [{ name: "a", shape: [1, 4], datatype: "FP32", data: Array.from(a) }, { name: "b", shape: [1, 4], datatype: "FP32", data: Array.from(b) }] }));
    expect(added.status).toBe(200);
    const expected = referenceAdd(a, b);
    JSON.parse(added.text).outputs[0].data.forEach((value: number, index: number) => expect(value).toBeCloseTo(expected[index]!, 6));

    const x = Float32Array.from([1, 2, 3]);
    const n = BigInt64Array.from([4n, -5n, 6n]);
    const reference = referenceTwoInTwoOut(x, n);
    const two = await new Promise<any>((resolve, reject) =>
      kserve.ModelInfer(
        { model_name: "two", inputs: [{ name: "x", datatype: "FP32", shape: ["1", "3"], contents: { fp32_contents: Array.from(x) } }, { name: "n", datatype: "INT64", shape: ["1", "3"], contents: { int64_contents: Array.from(n, String) } }] },
        (error: ServiceError | null, response: unknown) => (error ? reject(error) : resolve(response)),
      ),
    );
    const outputs = Object.fromEntries(two.outputs.map((output: any) => [output.name, output]));
    expect(outputs.sum.contents.fp32_contents).toEqual(Array.from(reference.sum));
    expect(outputs.square.contents.int64_contents.map(String)).toEqual(Array.from(reference.square, String));

    const workersAfter = await workerPids();
    console.log(JSON.stringify({ answers: Object.fromEntries([...seen].sort()), total: [...seen.values()].reduce((sum, value) => sum + value, 0) }));
    for (const name of MODELS) {
      if (JSON.stringify(workersAfter.get(name)) !== JSON.stringify(workersBefore.get(name))) console.log(JSON.stringify(lastStatus));
      expect(workersAfter.get(name)).toEqual(workersBefore.get(name)!);
      for (const pid of workersAfter.get(name)!) expect(processAlive(pid)).toBe(true);
    }
    expect(processAlive(server.process.pid)).toBe(true);
  });
});
