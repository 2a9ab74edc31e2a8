/**
 * gRPC end to end: a real `serve` process started with `--grpc-port 0` prints the port it picked
 * in its listening line and answers KServe v2 over it (ServerLive, ModelInfer on a model
 * registered over REST, served by a real worker process), and SIGTERM drains gRPC calls as it
 * drains HTTP requests.
 */
import { expect, test } from "bun:test";
import path from "node:path";
import { type Client, type GrpcObject, Metadata, type ServiceClientConstructor, type ServiceError, credentials, status } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { referenceAdd, referenceSlow, writeFixtureModels } from "../fixtures/models.ts";
import { startServerProcess } from "../support/server-fixture.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

const { grpcObject } = loadProtos(["kserve/grpc_predict_v2.proto"]);
const KServeClient = (grpcObject.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;

/** Upper bound for every polled condition. */
const POLL_BOUND_MILLISECONDS = 15_000;

function unary<T = any>(client: Client & Record<string, any>, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method](request, new Metadata(), { deadline: Date.now() + 30_000 }, (error: ServiceError | null, response: T) => (error ? reject(error) : resolve(response))),
  );
}

test("serve --grpc-port 0 prints a numeric grpc_port and answers ServerLive and ModelInfer on it", async () => {
  await using directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  await using database = await testDatabase(dataDir);
  await using server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });

  const listening = server.logs.find((line) => line.event === "listening")!;
  expect(typeof listening.grpc_port).toBe("number");
  expect(listening.grpc_port).toBeGreaterThan(0);
  expect(listening.grpc_port).not.toBe(listening.http_port);

  const registered = await fetch(`${server.baseUrl}/api/v1/models`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "add", version: "1", task: "tensor", source: fixtures.add }),
  });
  expect(registered.status).toBe(201);

  const client = new KServeClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure()) as Client & Record<string, any>;
  try {
    expect(await unary(client, "ServerLive", {})).toEqual({ live: true });
    const a = Float32Array.from([1, 2, 3, 4]);
    const b = Float32Array.from([0.5, 0.25, -1, 8]);
    const response = await unary(client, "ModelInfer", {
      model_name: "add",
      id: "e2e",
      inputs: [
        { name: "a", datatype: "FP32", shape: ["1", "4"], contents: { fp32_contents: Array.from(a) } },
        { name: "b", datatype: "FP32", shape: ["1", "4"], contents: { fp32_contents: Array.from(b) } },
      ],
    });
    expect(response).toMatchObject({ model_name: "add", model_version: "1", id: "e2e" });
    expect(response.outputs[0].contents.fp32_contents).toEqual(Array.from(referenceAdd(a, b)));
  } finally {
    client.close();
  }
}, 60_000);

async function post(baseUrl: string, route: string, body?: unknown): Promise<Response> {
  return fetch(`${baseUrl}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
}

test("SIGTERM lets gRPC calls running and queued finish, refuses new ones, and exits 0", async () => {
  await using directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  await using database = await testDatabase(dataDir);
  await using server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
  expect((await post(server.baseUrl, "/api/v1/models", { name: "slow", version: "1", task: "tensor", source: fixtures.slow })).status).toBe(201);
  expect((await post(server.baseUrl, "/api/v1/models/slow/load")).status).toBe(200);

  const client = new KServeClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure()) as Client & Record<string, any>;
  try {
    const inputs = [0, 1].map((request) => Float32Array.from({ length: 512 }, (_, index) => ((index + request * 37) % 16) / 8));
    const calls = inputs.map((x, index) =>
      unary(client, "ModelInfer", { model_name: "slow", id: `drain-${index}`, inputs: [{ name: "x", datatype: "FP32", shape: ["1", "512"], contents: { fp32_contents: Array.from(x) } }] }),
    );
    await waitFor(
      async () => {
        const { queue } = (await (await fetch(`${server.baseUrl}/api/v1/status`)).json()) as { queue: { inFlightBatches: number; queued: number } };
        return queue.inFlightBatches === 1 && queue.queued === 1;
      },
      "one call running and one queued",
      { timeoutMilliseconds: POLL_BOUND_MILLISECONDS, intervalMilliseconds: 10 },
    );

    server.process.kill("SIGTERM");
    await server.waitForLog((line) => line.event === "shutdown");
    const late = await unary(client, "ModelInfer", { model_name: "slow", inputs: [{ name: "x", datatype: "FP32", shape: ["1", "512"], contents: { fp32_contents: Array.from(inputs[0]!) } }] }).then(
      () => "answered",
      (error: ServiceError) => error.code,
    );
    // Refused either by the service (SHUTTING_DOWN) or because the server no longer accepts calls:
    // UNAVAILABLE both ways, so the client may retry elsewhere.
    expect(late).toBe(status.UNAVAILABLE);

    const answers = await Promise.all(calls);
    answers.forEach((answer, index) => {
      expect(answer.id).toBe(`drain-${index}`);
      const expected = referenceSlow(inputs[index]!);
      const actual: number[] = answer.outputs[0].contents.fp32_contents;
      expect(actual).toHaveLength(expected.length);
      // 2048 equal rows summed in float32: exact for these inputs (multiples of 1/8 times 2^11).
      actual.forEach((value, position) => expect(value).toBe(expected[position]!));
    });
    expect(await server.process.exited).toBe(0);
    expect(server.logs).toContainEqual(expect.objectContaining({ event: "shutdown_drained", outcome: "drained" }));
  } finally {
    client.close();
  }
}, 60_000);
