/**
 * One inference contract, four transports: the same cases run over REST JSON, REST with the
 * binary tensor extension, KServe v2 gRPC and modelmora.v1 gRPC against one real server process
 * (real sockets, real workers), on the fixture models and the real PaddleOCR direction classifier.
 * Every transport must give the same outputs for the same inputs (and equal the references where
 * the fixtures have them), and the same domain error code for the same bad request.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { type FixtureModels, referenceAdd, referenceFixedShape, referenceMatmulRelu, referenceTwoInTwoOut, writeFixtureModels } from "../fixtures/models.ts";
import { seededFloats } from "../fixtures/seeded.ts";
import { type ServerProcess, TEST_SOURCE_POLICY, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";
import { type ContractAnswer, type ContractRequest, type ContractTensor, kserveGrpc, modelmoraGrpc, restBinary, restJson, type Transport } from "./transports.ts";

const OCR_CLS_MODEL = path.join(import.meta.dir, "..", "..", "node_modules", "@gutenye", "ocr-models", "assets", "ch_ppocr_mobile_v2.0_cls_infer.onnx");
const FIXTURE_TOLERANCE = 1e-6;
/** Same runtime and provider as the reference; 1e-5 on softmax outputs absorbs a different thread split. */
const OCR_TOLERANCE = 1e-5;

let directory: TemporaryDirectory;
let database: TestDatabase;
let server: ServerProcess;
let fixtures: FixtureModels;
let transports: Transport[];


async function register(name: string, source: string, config: Record<string, unknown> = {}): Promise<void> {
  const response = await fetch(`${server.baseUrl}/api/v1/models`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, version: "1", task: "tensor", source, config }),
  });
  expect(response.status).toBe(201);
}

beforeAll(async () => {
  directory = await temporaryDirectory();
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  database = await testDatabase(dataDir);
  // The source policy also allows the PaddleOCR model shipped in node_modules.
  server = await startServerProcess({
    dataDir,
    databaseUrl: database.databaseUrl,
    extraArgs: ["--grpc-port", "0"],
    environment: { MODELMORA_SOURCE_DIRS: `${TEST_SOURCE_POLICY.MODELMORA_SOURCE_DIRS},${path.dirname(OCR_CLS_MODEL)}` },
  });
  const listening = await server.waitForLog((line) => line.event === "listening");
  const grpcTarget = `127.0.0.1:${listening.grpc_port as number}`;
  transports = [restJson(server.baseUrl), restBinary(server.baseUrl), kserveGrpc(grpcTarget), modelmoraGrpc(grpcTarget)];
  await register("add", fixtures.add, { maxBatchSize: 8 });
  await register("matmul-relu", fixtures.matmulRelu);
  await register("two-in-two-out", fixtures.twoInTwoOut);
  await register("fixed-shape", fixtures.fixedShape);
  await register("ocr-cls", OCR_CLS_MODEL, { warmupShapes: { x: [1, 3, 48, 192] } });
});

afterAll(async () => {
  for (const transport of transports ?? []) transport.close();
  await server?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

function expectClose(actual: ContractTensor["values"], expected: ArrayLike<number>, tolerance: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let index = 0; index < expected.length; index++) {
    const difference = Math.abs((actual[index] as number) - expected[index]!);
    if (!(difference <= tolerance)) throw new Error(`${what}[${index}]: ${actual[index]} vs ${expected[index]} (tolerance ${tolerance})`);
  }
}

/** Runs `request` over every transport; each must succeed, echo the id and name the model. */
async function overEveryTransport(request: ContractRequest): Promise<Map<string, ContractTensor[]>> {
  const answers = new Map<string, ContractTensor[]>();
  for (const transport of transports) {
    const answer: ContractAnswer = await transport.infer(request);
    if (!answer.ok) throw new Error(`${transport.name}: ${request.model} failed with ${answer.code}`);
    expect({ transport: transport.name, model: answer.model_name, version: answer.model_version, id: answer.id }).toEqual({
      transport: transport.name,
      model: request.model,
      version: "1",
      id: request.id,
    });
    answers.set(transport.name, answer.outputs);
  }
  return answers;
}

describe("the same inputs give the same outputs over REST JSON, REST binary, KServe gRPC and modelmora gRPC", () => {
  test("add: a + b for a batch of two", async () => {
    const a = seededFloats(8, 1);
    const b = seededFloats(8, 2);
    const answers = await overEveryTransport({
      model: "add",
      id: "add-1",
      inputs: [
        { name: "a", datatype: "FP32", shape: [2, 4], values: Array.from(a) },
        { name: "b", datatype: "FP32", shape: [2, 4], values: Array.from(b) },
      ],
    });
    for (const [name, outputs] of answers) {
      expect(outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })), name).toEqual([{ name: "sum", datatype: "FP32", shape: [2, 4] }]);
      expectClose(outputs[0]!.values, referenceAdd(a, b), FIXTURE_TOLERANCE, `${name} sum`);
    }
  });

  test("matmul-relu: three rows", async () => {
    const x = seededFloats(24, 3);
    for (const [name, outputs] of await overEveryTransport({ model: "matmul-relu", id: "mm-1", inputs: [{ name: "x", datatype: "FP32", shape: [3, 8], values: Array.from(x) }] })) {
      expectClose(outputs[0]!.values, referenceMatmulRelu(x, 3), FIXTURE_TOLERANCE, `${name} y`);
    }
  });

  test("two-in-two-out: FP32 and INT64 in, both out; then only the requested output", async () => {
    const x = seededFloats(6, 4);
    const n = BigInt64Array.from([-3n, 0n, 7n, 11n, -12n, 5n]);
    const inputs: ContractTensor[] = [
      { name: "x", datatype: "FP32", shape: [2, 3], values: Array.from(x) },
      { name: "n", datatype: "INT64", shape: [2, 3], values: Array.from(n, Number) },
    ];
    const reference = referenceTwoInTwoOut(x, n);
    for (const [name, outputs] of await overEveryTransport({ model: "two-in-two-out", id: "tt-1", inputs })) {
      expect(outputs.map((output) => `${output.name}:${output.datatype}`), name).toEqual(["sum:FP32", "square:INT64"]);
      expectClose(outputs[0]!.values, reference.sum, FIXTURE_TOLERANCE, `${name} sum`);
      expect(outputs[1]!.values, name).toEqual(Array.from(reference.square, Number));
    }
    for (const [name, outputs] of await overEveryTransport({ model: "two-in-two-out", id: "tt-2", inputs, outputs: ["square"] })) {
      expect(outputs.map((output) => output.name), name).toEqual(["square"]);
    }
  });

  test("fixed-shape: a model without a batch dimension", async () => {
    const x = seededFloats(6, 5);
    for (const [name, outputs] of await overEveryTransport({ model: "fixed-shape", id: "fs-1", inputs: [{ name: "x", datatype: "FP32", shape: [2, 3], values: Array.from(x) }] })) {
      expectClose(outputs[0]!.values, referenceFixedShape(x), FIXTURE_TOLERANCE, `${name} y`);
    }
  });

  test("PaddleOCR direction classifier: every transport equals onnxruntime-node in-process", async () => {
    const shape = [2, 3, 48, 192];
    const x = seededFloats(2 * 3 * 48 * 192, 20240611);
    const session = await ort.InferenceSession.create(OCR_CLS_MODEL, { executionProviders: ["cpu"] });
    let reference: Float32Array;
    try {
      reference = (await session.run({ x: new ort.Tensor("float32", x, shape) }))["softmax_0.tmp_0"]!.data as Float32Array;
    } finally {
      await session.release();
    }
    for (const [name, outputs] of await overEveryTransport({ model: "ocr-cls", id: "cls-1", inputs: [{ name: "x", datatype: "FP32", shape, values: Array.from(x) }] })) {
      expect(outputs[0]!.shape, name).toEqual([2, 2]);
      expectClose(outputs[0]!.values, reference, OCR_TOLERANCE, `${name} softmax`);
    }
  });
});

describe("the same bad request gets the same domain error code everywhere", () => {
  const cases: [string, ContractRequest, string][] = [
    ["an unknown model", { model: "no-such-model", id: "e-1", inputs: [{ name: "x", datatype: "FP32", shape: [1], values: [1] }] }, "MODEL_NOT_FOUND"],
    ["an unknown version", { model: "add", version: "9", id: "e-2", inputs: [{ name: "a", datatype: "FP32", shape: [1, 4], values: [1, 2, 3, 4] }] }, "VERSION_NOT_FOUND"],
    [
      "a wrong input name",
      { model: "add", id: "e-3", inputs: [{ name: "nope", datatype: "FP32", shape: [1, 4], values: [1, 2, 3, 4] }, { name: "b", datatype: "FP32", shape: [1, 4], values: [1, 2, 3, 4] }] },
      "INVALID_INPUT",
    ],
    ["a fixed dimension that does not match", { model: "matmul-relu", id: "e-4", inputs: [{ name: "x", datatype: "FP32", shape: [1, 7], values: [1, 2, 3, 4, 5, 6, 7] }] }, "INVALID_INPUT"],
  ];
  for (const [label, request, code] of cases) {
    test(label, async () => {
      for (const transport of transports) {
        const answer = await transport.infer(request);
        expect({ transport: transport.name, code: answer.ok ? "ok" : answer.code }).toEqual({ transport: transport.name, code });
      }
    });
  }
});
