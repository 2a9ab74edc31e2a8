/**
 * The per-stream pending cap and backpressure of both bidirectional streams (KServe's
 * ModelStreamInfer and modelmora.v1's InferStream, one helper: src/api/grpc/bidi-stream.ts), over a
 * real socket, the real gRPC server (createGrpcServer with its limits) and the real core.
 *
 * A client sends 500 requests of 64 KiB each at once and reads no answer until they are all sent.
 * The server must hold at most the cap's worth of requests in inference at once (the rest wait in
 * the client and in HTTP/2 flow control, not in server memory), and every one of the 500 is then
 * answered exactly once with the right values. (Bun's HTTP/2 client takes answers off the socket
 * whether or not the application reads them, so the write-side pause is pinned by
 * tests/unit/bidi-stream.test.ts with a stream whose write side is full.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { type GrpcServer, createGrpcServer } from "../../src/api/grpc/server.ts";
import type { ServerCore } from "../../src/server.ts";
import { encodeModel, tensor } from "../fixtures/onnx-builder.ts";
import { type CoreFixture, startCore } from "../support/core-fixture.ts";
import { waitFor } from "../support/wait.ts";

const MAX_PENDING = 8;
const REQUESTS = 500;
/** 16,384 FP32 elements: 64 KiB per request and per answer, so unread answers fill flow-control windows quickly. */
const WIDTH = 16_384;

/** y = x + x: exact in float32 for the small integers sent here. */
const DOUBLE_MODEL = encodeModel({
  name: "double",
  inputs: [tensor("x", "float32", ["batch", WIDTH])],
  outputs: [tensor("y", "float32", ["batch", WIDTH])],
  nodes: [{ opType: "Add", inputs: ["x", "x"], outputs: ["y"] }],
});

type Client = grpc.Client & Record<string, (...args: unknown[]) => grpc.ClientDuplexStream<unknown, any>>;

let fixture: CoreFixture;
let core: ServerCore;
let grpcServer: GrpcServer;
let kserve: Client;
let modelmora: Client;
/** Calls of `inferTensors` running now, and the most seen at once: what the streams put into inference. */
let running = 0;
let mostRunning = 0;

beforeAll(async () => {
  fixture = await startCore();
  core = fixture.core;
  const modelPath = path.join(fixture.dataDir, "..", "double.onnx");
  await Bun.write(modelPath, DOUBLE_MODEL);
  await core.models.register({ name: "double", version: "1", task: "tensor", source: modelPath, config: { maxBatchSize: 4 } });

  // Observe (not replace) the real service: every stream request goes through inferTensors.
  const inferTensors = core.inference.inferTensors.bind(core.inference);
  core.inference.inferTensors = async (request) => {
    running++;
    mostRunning = Math.max(mostRunning, running);
    try {
      return await inferTensors(request);
    } finally {
      running--;
    }
  };

  grpcServer = createGrpcServer(core, { maxMessageBytes: 64 * 1024 * 1024, limits: { grpcMaxPendingPerStream: MAX_PENDING } });
  const port = await grpcServer.listen("127.0.0.1", 0);
  const kserveObject = loadProtos(["kserve/grpc_predict_v2.proto"]).grpcObject.inference as grpc.GrpcObject;
  kserve = new (kserveObject.GRPCInferenceService as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
  const v1 = (loadProtos(MODELMORA_PROTO_FILES).grpcObject.modelmora as grpc.GrpcObject).v1 as grpc.GrpcObject;
  modelmora = new (v1.InferenceService as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
}, 60_000);

afterAll(async () => {
  kserve?.close();
  modelmora?.close();
  await grpcServer?.close(0);
  await fixture?.[Symbol.asyncDispose]();
});

function enqueued(): number {
  return Object.entries(core.inference.queueStats()).find(([key]) => key.startsWith("double@"))?.[1].enqueued ?? 0;
}

/** Request `index`'s input: x[k] = index + k mod 7, so each answer is told apart by its values. */
function inputOf(index: number): Float32Array {
  return Float32Array.from({ length: WIDTH }, (_, element) => index + (element % 7));
}

function float32(buffer: Buffer): Float32Array {
  return new Float32Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength));
}

interface StreamApi {
  open(): grpc.ClientDuplexStream<unknown, any>;
  request(index: number): object;
  /** The answer's id and its raw output, or its error. */
  read(answer: any): { id: string; output?: Buffer; error?: string };
}

const APIS: Record<string, StreamApi> = {
  "KServe ModelStreamInfer": {
    open: () => kserve.ModelStreamInfer!(),
    request: (index) => ({
      model_name: "double",
      id: `k${index}`,
      inputs: [{ name: "x", datatype: "FP32", shape: ["1", String(WIDTH)] }],
      raw_input_contents: [Buffer.from(inputOf(index).buffer)],
    }),
    read: (answer) =>
      answer.error_message ? { id: answer.infer_response?.id ?? "", error: answer.error_message } : { id: answer.infer_response.id, output: answer.infer_response.raw_output_contents[0] },
  },
  "modelmora.v1 InferStream": {
    open: () => modelmora.InferStream!(),
    request: (index) => ({
      model: "double",
      id: `m${index}`,
      inputs: [{ name: "x", datatype: "FP32", shape: [1, WIDTH] }],
      raw_input_contents: [Buffer.from(inputOf(index).buffer)],
    }),
    read: (answer) => (answer.error ? { id: answer.id, error: answer.error.message } : { id: answer.id, output: answer.response.raw_output_contents[0] }),
  },
};

describe.each(Object.entries(APIS))("%s", (_name, api) => {
  test(`500 requests sent at once without reading answers: at most ${MAX_PENDING} in inference at once, then every answer arrives`, async () => {
    mostRunning = 0;
    const before = enqueued();
    const call = api.open();
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => undefined); // a failure arrives as the status too
    for (let index = 0; index < REQUESTS; index++) call.write(api.request(index));
    call.end();

    // Nothing is read until every request is sent and the server has run them all.
    await waitFor(() => enqueued() - before === REQUESTS && running === 0, () => `all ${REQUESTS} requests to run (so far ${enqueued() - before})`, {
      timeoutMilliseconds: 60_000,
      intervalMilliseconds: 20,
    });
    expect(mostRunning).toBe(MAX_PENDING); // never more than the cap in inference, and the cap was the limit

    // Now read: every request is answered exactly once, with 2·x.
    const answers = new Map<string, number>();
    const wrong: string[] = [];
    call.on("data", (message: unknown) => {
      const { id, output, error } = api.read(message);
      answers.set(id, (answers.get(id) ?? 0) + 1);
      const index = Number(id.slice(1));
      const got = output ? float32(output) : undefined;
      const want = inputOf(index);
      if (error !== undefined || !got || got.length !== WIDTH || got.some((value, element) => value !== 2 * want[element]!)) wrong.push(`${id}: ${error ?? "wrong values"}`);
    });
    expect((await status).code).toBe(grpc.status.OK);
    expect(wrong).toEqual([]);
    expect(answers.size).toBe(REQUESTS);
    expect([...answers.values()].every((times) => times === 1)).toBe(true);
    expect(mostRunning).toBe(MAX_PENDING);
  }, 90_000);
});

describe("gRPC server limits", () => {
  test("a connection may hold at most grpcMaxConcurrentStreams calls: one more waits until a call ends", async () => {
    const limited = createGrpcServer(core, { maxMessageBytes: 1024 * 1024, limits: { grpcMaxConcurrentStreams: 2 } });
    const port = await limited.listen("127.0.0.1", 0);
    const kserveObject = loadProtos(["kserve/grpc_predict_v2.proto"]).grpcObject.inference as grpc.GrpcObject;
    const client = new (kserveObject.GRPCInferenceService as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;
    const live = (deadlineMilliseconds: number) =>
      new Promise<grpc.status>((resolve) =>
        (client.ServerLive as unknown as (request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null) => void) => void)(
          {},
          { deadline: Date.now() + deadlineMilliseconds },
          (error) => resolve(error ? error.code : grpc.status.OK),
        ),
      );
    try {
      expect(await live(5_000)).toBe(grpc.status.OK);
      const open = [client.ModelStreamInfer!(), client.ModelStreamInfer!()];
      for (const stream of open) stream.on("error", () => undefined);
      // Both streams are open (a first answer proves it); a third call on the same connection waits.
      await Promise.all(
        open.map((stream, index) => {
          const answered = new Promise((resolve) => stream.once("data", resolve));
          stream.write(APIS["KServe ModelStreamInfer"]!.request(index));
          return answered;
        }),
      );
      expect(await live(300)).toBe(grpc.status.DEADLINE_EXCEEDED);
      open[0]!.end();
      await new Promise((resolve) => open[0]!.on("status", resolve));
      expect(await live(5_000)).toBe(grpc.status.OK);
      open[1]!.end();
    } finally {
      client.close();
      await limited.close(0);
    }
  }, 30_000);
});
