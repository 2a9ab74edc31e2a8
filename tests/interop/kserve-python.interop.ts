/**
 * Interoperability with a gRPC stack other than grpc-js: Debian's python3-grpcio and
 * python3-protobuf call the KServe v2 service of a real server process, with message classes that
 * protoc generates from our proto/kserve/grpc_predict_v2.proto.
 *
 * Needs Debian packages (python3-grpcio python3-protobuf protobuf-compiler), so it is not part of
 * `npm test` (which must run on a machine with only Node.js and npm); `npm run test:interop` runs it
 * and CI (.ci/run) installs the packages and runs it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import { type FixtureModels, referenceAdd, writeFixtureModels } from "../fixtures/models.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";

const REPOSITORY_ROOT = path.join(import.meta.dir, "..", "..");
/** Debian's interpreter, where python3-grpcio lives (a pyenv python3 on PATH would not have it). */
const PYTHON = "/usr/bin/python3";

let directory: TemporaryDirectory;
let database: TestDatabase;
let server: ServerProcess;
let fixtures: FixtureModels;
let grpcPort: number;

beforeAll(async () => {
  directory = await temporaryDirectory();
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  database = await testDatabase(dataDir);
  server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, extraArgs: ["--grpc-port", "0"] });
  const listening = await server.waitForLog((line) => line.event === "listening");
  grpcPort = listening.grpc_port as number;
  const registered = await fetch(`${server.baseUrl}/api/v1/models`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "add", version: "1", task: "tensor", source: fixtures.add }),
  });
  expect(registered.status).toBe(201);
});

afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

async function run(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const child = Bun.spawn({ cmd, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited with ${code}:\n${stderr}`);
  return stdout;
}

test("python3-grpcio calls ServerLive/Ready/Metadata, ModelReady, ModelMetadata and ModelInfer with typed and raw contents", async () => {
  expect(typeof grpcPort).toBe("number");
  const generated = path.join(directory.path, "generated");
  await run(["mkdir", "-p", generated]);
  await run(["protoc", `-I${path.join(REPOSITORY_ROOT, "proto", "kserve")}`, `--python_out=${generated}`, "grpc_predict_v2.proto"]);
  const output = await run([PYTHON, path.join(import.meta.dir, "kserve_client.py"), `127.0.0.1:${grpcPort}`, "add", generated]);
  const result = JSON.parse(output);
  const expected = Array.from(referenceAdd(Float32Array.from([1, 2, 3, 4]), Float32Array.from([0.5, -0.5, 0.25, -0.25])));

  expect(result.live).toBe(true);
  expect(result.ready).toBe(true);
  expect(result.server).toMatchObject({ name: "modelmora", extensions: expect.arrayContaining(["binary_tensor_data"]) });
  expect(result.model_ready).toBe(true);
  expect(result.unknown_ready).toBe(false);
  expect(result.metadata).toEqual({
    name: "add",
    versions: ["1"],
    platform: "onnxruntime_onnx",
    inputs: [
      { name: "a", datatype: "FP32", shape: [-1, 4] },
      { name: "b", datatype: "FP32", shape: [-1, 4] },
    ],
    outputs: [{ name: "sum", datatype: "FP32", shape: [-1, 4] }],
  });
  expect(result.typed).toEqual({
    id: "typed-1",
    model_name: "add",
    model_version: "1",
    outputs: [{ name: "sum", datatype: "FP32", shape: [1, 4], data: expected }],
    raw_output_count: 0,
  });
  expect(result.raw).toEqual({ id: "raw-1", outputs: [{ name: "sum", datatype: "FP32", shape: [1, 4] }], data: [expected] });
  expect(result.bad_raw).toMatchObject({ status: "INVALID_ARGUMENT", code: "INVALID_INPUT" });
  expect(result.bad_raw.details).toContain("bytes");
  expect(result.unknown_model).toMatchObject({ status: "NOT_FOUND", code: "MODEL_NOT_FOUND" });
});
