/**
 * The gRPC front end in-process over a real socket, with the real core and real workers: KServe v2
 * GRPCInferenceService (metadata, readiness, typed and raw inference, stream), the error contract
 * (status codes plus x-modelmora-code trailers), deadlines, cancellation and priority as the
 * scheduler sees them, message size limits, malformed bytes, health and reflection. The client is
 * grpc-js over the same .proto files, as any KServe client would be.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  type CallOptions,
  type Client,
  type ClientDuplexStream,
  type ClientUnaryCall,
  type GrpcObject,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  credentials,
  loadPackageDefinition,
  status,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { createRequire } from "node:module";
import path from "node:path";
import { loadProtos, PROTO_LOADER_OPTIONS } from "../../src/api/grpc/proto-loading.ts";
import { type GrpcServer, createGrpcServer } from "../../src/api/grpc/server.ts";
import type { ServerCore } from "../../src/server.ts";
import { type FixtureModels, referenceAdd, referenceTwoInTwoOut } from "../fixtures/models.ts";
import { type CoreFixture, startCore } from "../support/core-fixture.ts";
import { waitFor } from "../support/wait.ts";

const POLL = { timeoutMilliseconds: 15_000, intervalMilliseconds: 2 };

/** The fixtures are exact in float32; 1e-6 leaves room for kernel choice. */
const TOLERANCE = 1e-6;
const MEBIBYTE = 1024 * 1024;
const SLOW_INPUT = { name: "x", datatype: "FP32", shape: ["1", "512"], contents: { fp32_contents: new Array(512).fill(0.5) } };

let fixture: CoreFixture;
let core: ServerCore;
let fixtures: FixtureModels;
let grpcServer: GrpcServer;
let port: number;
let kserve: Client & Record<string, any>;

const { grpcObject } = loadProtos(["kserve/grpc_predict_v2.proto"]);
const KServeClient = (grpcObject.inference as GrpcObject).GRPCInferenceService as ServiceClientConstructor;

function kserveClient(target: number): Client & Record<string, any> {
  return new KServeClient(`127.0.0.1:${target}`, credentials.createInsecure()) as Client & Record<string, any>;
}

beforeAll(async () => {
  fixture = await startCore();
  ({ core, fixtures } = fixture);
  grpcServer = createGrpcServer(core, { maxMessageBytes: 64 * MEBIBYTE });
  port = await grpcServer.listen("127.0.0.1", 0);
  kserve = kserveClient(port);
  await register("add", fixtures.add);
  await register("two", fixtures.twoInTwoOut);
});

afterAll(async () => {
  kserve?.close();
  await grpcServer?.close(1_000);
  await fixture?.[Symbol.asyncDispose]();
});

function register(name: string, source: string, config: Record<string, unknown> = {}) {
  return core.models.register({ name, version: "1", task: "tensor", source, config });
}

interface UnaryOptions {
  metadata?: Metadata;
  deadlineMilliseconds?: number;
  /** Receives the call, e.g. to cancel it. */
  onCall?: (call: ClientUnaryCall) => void;
  client?: Client & Record<string, any>;
}

/** A unary call as a promise; rejects with the ServiceError (code, details, trailing metadata). */
function unary<T = any>(method: string, request: unknown, options: UnaryOptions = {}): Promise<T> {
  const client = options.client ?? kserve;
  const callOptions: CallOptions = options.deadlineMilliseconds === undefined ? {} : { deadline: Date.now() + options.deadlineMilliseconds };
  return new Promise((resolve, reject) => {
    const call = client[method](request, options.metadata ?? new Metadata(), callOptions, (error: ServiceError | null, response: T) =>
      error ? reject(error) : resolve(response),
    );
    options.onCall?.(call);
  });
}

async function failureOf(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

function domainCode(error: ServiceError): string | undefined {
  return error.metadata?.get("x-modelmora-code")[0]?.toString();
}

function stats(model: string) {
  const entry = Object.entries(core.inference.queueStats()).find(([key]) => key.startsWith(`${model}@`));
  return entry?.[1] ?? { queued: 0, inFlightBatches: 0, enqueued: 0, dispatched: 0, batches: 0, rejectedQueueFull: 0, expired: 0, cancelled: 0 };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>) {
  expect(actual).toHaveLength(expected.length);
  for (let index = 0; index < expected.length; index++) expect(Math.abs(actual[index]! - expected[index]!)).toBeLessThanOrEqual(TOLERANCE);
}

function float32Bytes(values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

function float32From(bytes: Buffer): Float32Array {
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function int64From(bytes: Buffer): BigInt64Array {
  return new BigInt64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function addRequest(a: Float32Array, b: Float32Array, extra: Record<string, unknown> = {}) {
  const rows = String(a.length / 4);
  return {
    model_name: "add",
    inputs: [
      { name: "a", datatype: "FP32", shape: [rows, "4"], contents: { fp32_contents: Array.from(a) } },
      { name: "b", datatype: "FP32", shape: [rows, "4"], contents: { fp32_contents: Array.from(b) } },
    ],
    ...extra,
  };
}

/**
 * Starts a request on a loaded slow model and resolves once it is running, so later requests
 * queue; `blocker` settles when it is done (wrapped: an async function would wait for it).
 */
async function occupy(model: string): Promise<{ blocker: Promise<unknown> }> {
  await register(model, fixtures.slow);
  await core.models.load(model);
  const blocker = core.inference.infer({ model, inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: new Array(512).fill(0.5) }], priority: 3 });
  await waitFor(() => stats(model).inFlightBatches === 1, "the blocker to run", POLL);
  return { blocker };
}

describe("server and model metadata", () => {
  test("ServerLive and ServerReady answer true on a ready server", async () => {
    expect(await unary("ServerLive", {})).toEqual({ live: true });
    expect(await unary("ServerReady", {})).toEqual({ ready: true });
  });

  test("ModelReady: a registered model is ready (it loads on first use); an unknown one is not", async () => {
    expect(await unary("ModelReady", { name: "add" })).toEqual({ ready: true });
    expect(await unary("ModelReady", { name: "add", version: "1" })).toEqual({ ready: true });
    expect(await unary("ModelReady", { name: "add", version: "9" })).toEqual({ ready: false });
    expect(await unary("ModelReady", { name: "no-such-model" })).toEqual({ ready: false });
  });

  test("ServerMetadata names the server, its version and extensions", async () => {
    const metadata = await unary("ServerMetadata", {});
    expect(metadata.name).toBe("modelmora");
    expect(metadata.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(metadata.extensions).toContain("binary_tensor_data");
  });

  test("ModelMetadata gives the signature with int64 shapes (-1 for dynamic dims)", async () => {
    expect(await unary("ModelMetadata", { name: "two" })).toEqual({
      name: "two",
      versions: ["1"],
      platform: "onnxruntime_onnx",
      inputs: [
        { name: "x", datatype: "FP32", shape: ["-1", "3"] },
        { name: "n", datatype: "INT64", shape: ["-1", "3"] },
      ],
      outputs: [
        { name: "sum", datatype: "FP32", shape: ["-1", "3"] },
        { name: "square", datatype: "INT64", shape: ["-1", "3"] },
      ],
    });
  });

  test("ModelMetadata of an unknown model is NOT_FOUND with x-modelmora-code MODEL_NOT_FOUND in the trailers", async () => {
    const error = await failureOf(unary("ModelMetadata", { name: "no-such-model" }));
    expect(error.code).toBe(status.NOT_FOUND);
    expect(domainCode(error)).toBe("MODEL_NOT_FOUND");
    expect(error.details).toContain("no-such-model");
  });
});

describe("ModelInfer", () => {
  test("typed contents on add: the answer equals the reference, typed, with the request's id", async () => {
    const a = Float32Array.from({ length: 8 }, (_, k) => k / 8);
    const b = Float32Array.from({ length: 8 }, (_, k) => -k / 4);
    const response = await unary("ModelInfer", addRequest(a, b, { id: "req-7" }));
    expect(response).toMatchObject({ model_name: "add", model_version: "1", id: "req-7", raw_output_contents: [] });
    expect(response.outputs).toHaveLength(1);
    expect(response.outputs[0]).toMatchObject({ name: "sum", datatype: "FP32", shape: ["2", "4"] });
    expectClose(response.outputs[0].contents.fp32_contents, referenceAdd(a, b));
  });

  test("raw contents on add: the answer is raw too and equals the reference", async () => {
    const a = Float32Array.from({ length: 12 }, (_, k) => k * 1.5);
    const b = Float32Array.from({ length: 12 }, (_, k) => 100 - k);
    const response = await unary("ModelInfer", {
      model_name: "add",
      id: "raw-1",
      inputs: [
        { name: "a", datatype: "FP32", shape: ["3", "4"] },
        { name: "b", datatype: "FP32", shape: ["3", "4"] },
      ],
      raw_input_contents: [float32Bytes(a), float32Bytes(b)],
    });
    expect(response.id).toBe("raw-1");
    expect(response.outputs).toEqual([{ name: "sum", datatype: "FP32", shape: ["3", "4"], parameters: {}, contents: null }]);
    expect(response.raw_output_contents).toHaveLength(1);
    expectClose(float32From(response.raw_output_contents[0]), referenceAdd(a, b));
  });

  test("typed contents on twoInTwoOut: INT64 values beyond 2^53 round-trip exactly as int64 strings", async () => {
    const x = Float32Array.from([0.5, 1, 1.5, 2, 2.5, 3]);
    const n = BigInt64Array.from([1n, -2n, 3n, 3037000499n, -3037000499n, 9007199254740993n]);
    const response = await unary("ModelInfer", {
      model_name: "two",
      inputs: [
        { name: "x", datatype: "FP32", shape: ["2", "3"], contents: { fp32_contents: Array.from(x) } },
        { name: "n", datatype: "INT64", shape: ["2", "3"], contents: { int64_contents: Array.from(n, String) } },
      ],
    });
    const reference = referenceTwoInTwoOut(x, n);
    const byName = Object.fromEntries(response.outputs.map((output: any) => [output.name, output]));
    expect(byName.square.datatype).toBe("INT64");
    expect(byName.square.contents.int64_contents).toEqual(Array.from(reference.square, String));
    expect(byName.sum.shape).toEqual(["2", "3"]);
    expectClose(byName.sum.contents.fp32_contents, reference.sum);
  });

  test("raw contents on twoInTwoOut: both outputs raw, in the answer's output order", async () => {
    const x = Float32Array.from([1, 2, 3]);
    const n = BigInt64Array.from([4n, -5n, 2n ** 40n]);
    const response = await unary("ModelInfer", {
      model_name: "two",
      inputs: [
        { name: "x", datatype: "FP32", shape: ["1", "3"] },
        { name: "n", datatype: "INT64", shape: ["1", "3"] },
      ],
      raw_input_contents: [float32Bytes(x), Buffer.from(n.buffer)],
    });
    const reference = referenceTwoInTwoOut(x, n);
    const names = response.outputs.map((output: any) => output.name);
    expect(names.sort()).toEqual(["square", "sum"]);
    const raw = Object.fromEntries(response.outputs.map((output: any, index: number) => [output.name, response.raw_output_contents[index]]));
    expect(Array.from(int64From(raw.square))).toEqual(Array.from(reference.square));
    expectClose(float32From(raw.sum), reference.sum);
  });

  test("requested outputs: only the named output comes back", async () => {
    const response = await unary("ModelInfer", {
      model_name: "two",
      id: "only-square",
      inputs: [
        { name: "x", datatype: "FP32", shape: ["1", "3"], contents: { fp32_contents: [1, 2, 3] } },
        { name: "n", datatype: "INT64", shape: ["1", "3"], contents: { int64_contents: ["2", "3", "4"] } },
      ],
      outputs: [{ name: "square" }],
    });
    expect(response.id).toBe("only-square");
    expect(response.outputs.map((output: any) => output.name)).toEqual(["square"]);
    expect(response.outputs[0].contents.int64_contents).toEqual(["4", "9", "16"]);
  });

  test("a requested output the model lacks is INVALID_ARGUMENT / INVALID_INPUT", async () => {
    const error = await failureOf(unary("ModelInfer", addRequest(new Float32Array(4), new Float32Array(4), { outputs: [{ name: "nope" }] })));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(domainCode(error)).toBe("INVALID_INPUT");
  });

  test("raw contents of the wrong byte count are INVALID_ARGUMENT naming the input", async () => {
    const error = await failureOf(
      unary("ModelInfer", {
        model_name: "add",
        inputs: [
          { name: "a", datatype: "FP32", shape: ["1", "4"] },
          { name: "b", datatype: "FP32", shape: ["1", "4"] },
        ],
        raw_input_contents: [Buffer.alloc(16), Buffer.alloc(15)],
      }),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(domainCode(error)).toBe("INVALID_INPUT");
    expect(error.details).toContain("inputs[1]");
  });

  test("malformed request parameters are INVALID_ARGUMENT", async () => {
    const base = () => addRequest(new Float32Array(4), new Float32Array(4));
    for (const parameters of [
      { priority: { string_param: "urgent" } },
      { timeout_ms: { int64_param: "-5" } },
      { keep_alive_seconds: { double_param: 1.5 } },
    ]) {
      const error = await failureOf(unary("ModelInfer", { ...base(), parameters }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
    }
    const badMetadata = new Metadata();
    badMetadata.set("x-priority", "urgent");
    expect((await failureOf(unary("ModelInfer", base(), { metadata: badMetadata }))).code).toBe(status.INVALID_ARGUMENT);
  });

  test("an unknown model is NOT_FOUND / MODEL_NOT_FOUND", async () => {
    const error = await failureOf(unary("ModelInfer", { ...addRequest(new Float32Array(4), new Float32Array(4)), model_name: "ghost" }));
    expect(error.code).toBe(status.NOT_FOUND);
    expect(domainCode(error)).toBe("MODEL_NOT_FOUND");
  });
});

describe("malformed and oversize messages", () => {
  test("a message over the configured maximum is RESOURCE_EXHAUSTED, and the server goes on answering", async () => {
    const small = createGrpcServer(core, { maxMessageBytes: MEBIBYTE });
    const smallPort = await small.listen("127.0.0.1", 0);
    const client = kserveClient(smallPort);
    try {
      const rows = 70_000; // 2 × 70,000 × 4 floats ≈ 2.2 MB
      const a = new Float32Array(rows * 4);
      const error = await failureOf(
        unary(
          "ModelInfer",
          {
            model_name: "add",
            inputs: [
              { name: "a", datatype: "FP32", shape: [String(rows), "4"] },
              { name: "b", datatype: "FP32", shape: [String(rows), "4"] },
            ],
            raw_input_contents: [float32Bytes(a), float32Bytes(a)],
          },
          { client },
        ),
      );
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      const response = await unary("ModelInfer", addRequest(Float32Array.from([1, 2, 3, 4]), Float32Array.from([1, 1, 1, 1])), { client });
      expect(response.outputs[0].contents.fp32_contents).toEqual([2, 3, 4, 5]);
    } finally {
      client.close();
      await small.close(1_000);
    }
  });

  test("bytes that are not a protobuf message are refused and the server survives", async () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0xff, 0xff, 0x12]);
    const error = await new Promise<ServiceError | null>((resolve) => {
      kserve.makeUnaryRequest(
        "/inference.GRPCInferenceService/ModelInfer",
        (value: Buffer) => value,
        (value: Buffer) => value,
        garbage,
        (failure: ServiceError | null) => resolve(failure),
      );
    });
    expect(error).not.toBeNull();
    expect([status.INTERNAL, status.INVALID_ARGUMENT]).toContain(error!.code);
    expect(await unary("ServerLive", {})).toEqual({ live: true });
  });
});

describe("deadlines, cancellation and priority through the scheduler", () => {
  test("a gRPC deadline shorter than the wait behind a running request: DEADLINE_EXCEEDED, and it never runs", async () => {
    const { blocker } = await occupy("g-deadline");
    const error = await failureOf(unary("ModelInfer", { model_name: "g-deadline", inputs: [SLOW_INPUT] }, { deadlineMilliseconds: 100 }));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    await blocker;
    await waitFor(() => stats("g-deadline").expired + stats("g-deadline").cancelled === 1, "the late request to leave the queue", POLL);
    expect(stats("g-deadline")).toMatchObject({ dispatched: 1, queued: 0 });
  }, 30_000);

  test("parameters.timeout_ms works like a deadline: DEADLINE_EXCEEDED / INFERENCE_TIMEOUT while queued", async () => {
    const { blocker } = await occupy("g-timeout");
    const error = await failureOf(unary("ModelInfer", { model_name: "g-timeout", inputs: [SLOW_INPUT], parameters: { timeout_ms: { int64_param: "100" } } }));
    expect(error.code).toBe(status.DEADLINE_EXCEEDED);
    expect(domainCode(error)).toBe("INFERENCE_TIMEOUT");
    await blocker;
    expect(stats("g-timeout")).toMatchObject({ dispatched: 1, expired: 1, queued: 0 });
  }, 30_000);

  test("cancelling a call while it is queued drops it: it never runs", async () => {
    const { blocker } = await occupy("g-cancel");
    let call: ClientUnaryCall | undefined;
    const answer = unary("ModelInfer", { model_name: "g-cancel", inputs: [SLOW_INPUT] }, { onCall: (started) => (call = started) });
    await waitFor(() => stats("g-cancel").queued === 1, "the request to queue", POLL);
    call!.cancel();
    expect((await failureOf(answer)).code).toBe(status.CANCELLED);
    await waitFor(() => stats("g-cancel").cancelled === 1, "the queue to drop the cancelled request", POLL);
    await blocker;
    expect(stats("g-cancel")).toMatchObject({ dispatched: 1, queued: 0 });
  }, 30_000);

  test("x-priority metadata orders the queue; parameters.priority wins over it", async () => {
    const { blocker } = await occupy("g-priority");
    const completed: string[] = [];
    const flood: Promise<unknown>[] = [];
    const sends: { label: string; metadata?: string; parameter?: string }[] = [
      { label: "low-a", metadata: "low" },
      { label: "normal-a" },
      { label: "high-a", metadata: "2" },
      { label: "critical-a", metadata: "critical" },
      { label: "high-b", metadata: "high" },
      // Metadata says low, the request's own parameter says critical: the parameter wins.
      { label: "critical-b", metadata: "low", parameter: "1" },
    ];
    for (const send of sends) {
      const metadata = new Metadata();
      if (send.metadata) metadata.set("x-priority", send.metadata);
      const parameters = send.parameter ? { priority: { int64_param: send.parameter } } : {};
      flood.push(unary("ModelInfer", { model_name: "g-priority", inputs: [SLOW_INPUT], parameters }, { metadata }).then(() => completed.push(send.label)));
      await waitFor(() => stats("g-priority").enqueued === flood.length + 1, `${send.label} to be queued`, POLL);
    }
    await Promise.all([blocker, ...flood]);
    expect(completed).toEqual(["critical-a", "critical-b", "high-a", "high-b", "normal-a", "low-a"]);
  }, 60_000);
});

describe("ModelStreamInfer", () => {
  interface StreamAnswer {
    error_message: string;
    infer_response: any;
  }

  function openStream(): { call: ClientDuplexStream<unknown, StreamAnswer>; answers: StreamAnswer[]; finished: Promise<void> } {
    const call = kserve.ModelStreamInfer() as ClientDuplexStream<unknown, StreamAnswer>;
    const answers: StreamAnswer[] = [];
    call.on("data", (answer: StreamAnswer) => answers.push(answer));
    const finished = new Promise<void>((resolve, reject) => {
      call.on("status", (result) => (result.code === status.OK ? resolve() : reject(Object.assign(new Error(result.details), result))));
      call.on("error", reject);
    });
    return { call, answers, finished };
  }

  test("100 requests are each answered exactly once with their id; one bad request yields error_message while the rest succeed", async () => {
    const { call, answers, finished } = openStream();
    for (let index = 0; index < 100; index++) {
      call.write({
        model_name: "add",
        id: `s-${index}`,
        inputs: [
          { name: "a", datatype: "FP32", shape: ["1", "4"], contents: { fp32_contents: [index, 0, 0, 0] } },
          { name: "b", datatype: "FP32", shape: ["1", "4"], contents: { fp32_contents: [0, 0, 0, 1] } },
        ],
      });
      if (index === 50) {
        call.write({ model_name: "add", id: "bad", inputs: [{ name: "nope", datatype: "FP32", shape: ["1", "4"], contents: { fp32_contents: [1, 2, 3, 4] } }] });
      }
    }
    call.end();
    await finished;
    expect(answers).toHaveLength(101);
    const failures = answers.filter((answer) => answer.error_message !== "");
    expect(failures).toHaveLength(1);
    expect(failures[0]!.error_message).toContain("nope");
    expect(failures[0]!.infer_response.id).toBe("bad");
    expect(failures[0]!.infer_response.parameters.error_code.string_param).toBe("INVALID_INPUT");
    const counts = new Map<string, number>();
    for (const answer of answers.filter((candidate) => candidate.error_message === "")) {
      const response = answer.infer_response;
      counts.set(response.id, (counts.get(response.id) ?? 0) + 1);
      const index = Number(response.id.slice(2));
      expect(response.model_name).toBe("add");
      expect(response.outputs[0].contents.fp32_contents).toEqual([index, 0, 0, 1]);
    }
    expect(counts.size).toBe(100);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
  }, 30_000);

  test("raw requests on a stream are answered raw", async () => {
    const { call, answers, finished } = openStream();
    const a = Float32Array.from([1, 2, 3, 4]);
    call.write({
      model_name: "add",
      id: "raw",
      inputs: [
        { name: "a", datatype: "FP32", shape: ["1", "4"] },
        { name: "b", datatype: "FP32", shape: ["1", "4"] },
      ],
      raw_input_contents: [float32Bytes(a), float32Bytes(a)],
    });
    call.end();
    await finished;
    expect(answers).toHaveLength(1);
    expect(Array.from(float32From(answers[0]!.infer_response.raw_output_contents[0]))).toEqual([2, 4, 6, 8]);
  });

  test("an empty stream ends as soon as the client half-closes", async () => {
    const { call, answers, finished } = openStream();
    call.end();
    await finished;
    expect(answers).toHaveLength(0);
  });

  test("cancelling the stream drops its queued requests: they never run", async () => {
    const { blocker } = await occupy("g-stream-cancel");
    const { call, finished } = openStream();
    finished.catch(() => undefined);
    call.write({ model_name: "g-stream-cancel", id: "q-1", inputs: [SLOW_INPUT] });
    call.write({ model_name: "g-stream-cancel", id: "q-2", inputs: [SLOW_INPUT] });
    await waitFor(() => stats("g-stream-cancel").queued === 2, "both stream requests to queue", POLL);
    call.cancel();
    await waitFor(() => stats("g-stream-cancel").cancelled === 2, "the queue to drop both", POLL);
    await blocker;
    expect(stats("g-stream-cancel")).toMatchObject({ dispatched: 1, queued: 0 });
  }, 30_000);
});

describe("health and reflection", () => {
  const healthDefinition = loadSync(healthProtoPath, PROTO_LOADER_OPTIONS);
  const HealthClient = ((loadPackageDefinition(healthDefinition).grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject;

  function healthClient(target: number): Client & Record<string, any> {
    return new (HealthClient.Health as ServiceClientConstructor)(`127.0.0.1:${target}`, credentials.createInsecure()) as Client & Record<string, any>;
  }

  test("Check: the server (\"\") and its services are SERVING; a model by name is SERVING; an unknown name is NOT_FOUND", async () => {
    const client = healthClient(port);
    try {
      expect(await unary("Check", { service: "" }, { client })).toEqual({ status: "SERVING" });
      expect(await unary("Check", { service: "inference.GRPCInferenceService" }, { client })).toEqual({ status: "SERVING" });
      expect(await unary("Check", { service: "add" }, { client })).toEqual({ status: "SERVING" });
      expect((await failureOf(unary("Check", { service: "no-such-model" }, { client }))).code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  test("Check follows the registry: a model registered after the server started is SERVING, and NOT_SERVING once deleted", async () => {
    const client = healthClient(port);
    try {
      await register("late", fixtures.add);
      expect(await unary("Check", { service: "late" }, { client })).toEqual({ status: "SERVING" });
      await core.models.delete("late");
      expect(await unary("Check", { service: "late" }, { client })).toEqual({ status: "NOT_SERVING" });
    } finally {
      client.close();
    }
  });

  test("closing the server tells Watch callers NOT_SERVING and ends their calls", async () => {
    const closing = createGrpcServer(core, { maxMessageBytes: MEBIBYTE });
    const closingPort = await closing.listen("127.0.0.1", 0);
    const client = healthClient(closingPort);
    try {
      const watch = client.Watch({ service: "" });
      const seen: string[] = [];
      const ended = new Promise<void>((resolve) => {
        watch.on("data", (response: { status: string }) => seen.push(response.status));
        watch.on("status", () => resolve());
        watch.on("error", () => resolve());
      });
      await waitFor(() => seen.length === 1, "the first Watch answer", POLL);
      expect(seen).toEqual(["SERVING"]);
      await closing.close(2_000);
      await ended;
      expect(seen).toEqual(["SERVING", "NOT_SERVING"]);
    } finally {
      client.close();
    }
  });

  test("reflection lists the services and describes inference.GRPCInferenceService", async () => {
    const reflectionProtoDirectory = path.join(path.dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "..", "proto");
    const reflectionDefinition = loadSync("grpc/reflection/v1/reflection.proto", { ...PROTO_LOADER_OPTIONS, includeDirs: [reflectionProtoDirectory] });
    const reflection = (((loadPackageDefinition(reflectionDefinition).grpc as GrpcObject).reflection as GrpcObject).v1 as GrpcObject)
      .ServerReflection as ServiceClientConstructor;
    const client = new reflection(`127.0.0.1:${port}`, credentials.createInsecure()) as Client & Record<string, any>;
    try {
      const stream = client.ServerReflectionInfo();
      const responses: any[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on("data", (response: any) => responses.push(response));
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      stream.write({ list_services: "*" });
      stream.write({ file_containing_symbol: "inference.GRPCInferenceService" });
      stream.end();
      await done;
      expect(responses).toHaveLength(2);
      const names = responses[0].list_services_response.service.map((service: { name: string }) => service.name);
      expect(names).toContain("inference.GRPCInferenceService");
      expect(names).toContain("grpc.health.v1.Health");
      expect(names).toContain("grpc.reflection.v1.ServerReflection");
      // Exactly what the server registered (modelmora.v1 included), nothing it merely has a .proto for.
      expect([...names].sort()).toEqual([...grpcServer.services].sort());
      const files: Buffer[] = responses[1].file_descriptor_response.file_descriptor_proto;
      expect(files.length).toBeGreaterThan(0);
      expect(Buffer.concat(files).toString("latin1")).toContain("ModelStreamInfer");
    } finally {
      client.close();
    }
  });
});
