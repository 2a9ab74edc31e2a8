/**
 * The streaming RPCs of modelmora.v1.InferenceService over a real socket and the real core:
 * 1,000 prioritized requests multiplexed on one InferStream, a 64 MiB output delivered by
 * StreamInference in ordered chunks, and cancellation of both (queued work dropped, sending stopped).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { addModelmoraServices, MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import type { ServerCore } from "../../src/server.ts";
import { LARGE_OUTPUT_BYTES, LARGE_OUTPUT_ROWS, LARGE_OUTPUT_WIDTH, largeOutputModel } from "../fixtures/large-output.ts";
import { type FixtureModels, referenceAdd } from "../fixtures/models.ts";
import { type CoreFixture, startCore } from "../support/core-fixture.ts";

/** The add fixture's sums are exact in float32; 1e-6 leaves room for kernel choice. */
const TOLERANCE = 1e-6;

const BIG_INPUT = { name: "x", datatype: "FP32", shape: [1, LARGE_OUTPUT_WIDTH], contents: { fp32_contents: Array.from({ length: LARGE_OUTPUT_WIDTH }, (_, index) => index) } };

type Client = grpc.Client & Record<string, (...args: unknown[]) => any>;

let fixture: CoreFixture;
let core: ServerCore;
let fixtures: FixtureModels;
let server: grpc.Server;
let inference: Client;
/** Server log lines, parsed: the test reads the server's own account of a cancelled stream. */
const logLines: Record<string, unknown>[] = [];
const logWaiters: { event: string; resolve: (line: Record<string, unknown>) => void }[] = [];

beforeAll(async () => {
  fixture = await startCore();
  ({ core, fixtures } = fixture);
  const logger = pino(
    { level: "info" },
    {
      write(text: string) {
        const line = JSON.parse(text) as Record<string, unknown>;
        logLines.push(line);
        for (const waiter of logWaiters.filter((candidate) => candidate.event === line.event)) waiter.resolve(line);
      },
    },
  );
  server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  addModelmoraServices(server, {
    inference: core.inference,
    models: core.models,
    status: core.status,
    readiness: { accepting: () => true, preloaded: () => true, checkDatabase: async () => {} },
    logger,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  const v1 = (loadProtos(MODELMORA_PROTO_FILES).grpcObject.modelmora as grpc.GrpcObject).v1 as grpc.GrpcObject;
  inference = new (v1.InferenceService as grpc.ServiceClientConstructor)(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Client;

  const bigModelPath = path.join(fixture.dataDir, "..", "big-output.onnx");
  await Bun.write(bigModelPath, largeOutputModel());
  await core.models.register({ name: "s-big", version: "1", task: "tensor", source: bigModelPath });
}, 60_000);

afterAll(async () => {
  inference?.close();
  server?.forceShutdown();
  await fixture?.[Symbol.asyncDispose]();
});

/** Resolves with the next server log line of `event`. */
function nextLog(event: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => logWaiters.push({ event, resolve }));
}

function queueStats(model: string) {
  return Object.entries(core.inference.queueStats()).find(([key]) => key.startsWith(`${model}@`))?.[1];
}

function float32(buffer: Buffer): Float32Array {
  return new Float32Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength));
}

interface StreamPart {
  header?: { model_name: string; model_version: string; id: string; outputs: { name: string; datatype: string; shape: string[]; byte_size: string }[] };
  chunk?: { output_index: number; offset: string; data: Buffer };
}

/** Reads a whole StreamInference call: every message, then the status. */
function readStream(request: object): Promise<StreamPart[]> {
  return new Promise((resolve, reject) => {
    const parts: StreamPart[] = [];
    const stream = inference.StreamInference!(request);
    stream.on("data", (part: StreamPart) => parts.push(part));
    stream.on("error", reject);
    stream.on("end", () => resolve(parts));
  });
}

describe("InferStream", () => {
  test("1,000 requests with mixed priorities on one stream are each answered exactly once, with their own id and data", async () => {
    await core.models.register({ name: "s-add", version: "1", task: "tensor", source: fixtures.add, config: { maxBatchSize: 8, maxQueueDelayMicroseconds: 2000 } });
    const count = 1000;
    const expected = new Map<string, Float32Array>();
    const answers = new Map<string, number>();
    const errors: unknown[] = [];
    const wrong: string[] = [];
    const stream = inference.InferStream!();
    const finished = new Promise<void>((resolve, reject) => {
      stream.on("data", (answer: { id: string; result: string; response?: any; error?: unknown }) => {
        answers.set(answer.id, (answers.get(answer.id) ?? 0) + 1);
        if (answer.result !== "response") return void errors.push(answer.error);
        const want = expected.get(answer.id);
        // Even requests went typed, odd ones raw: each answer mirrors its own request.
        const index = Number(answer.id.slice(1));
        const got: ArrayLike<number> = index % 2 === 0 ? answer.response.outputs[0].contents.fp32_contents : float32(answer.response.raw_output_contents[0]);
        const matches = want !== undefined && answer.response.id === answer.id && got.length === 4 && Array.from(got).every((value, element) => Math.abs(value - want[element]!) <= TOLERANCE);
        if (!matches) wrong.push(answer.id);
      });
      stream.on("error", reject);
      stream.on("end", resolve);
    });
    for (let index = 0; index < count; index++) {
      const a = Float32Array.from({ length: 4 }, (_, element) => index * 4 + element);
      const b = Float32Array.from({ length: 4 }, (_, element) => index / 8 - element);
      const id = `r${index}`;
      expected.set(id, referenceAdd(a, b));
      const shape = [1, 4];
      const request =
        index % 2 === 0
          ? { inputs: [{ name: "a", datatype: "FP32", shape, contents: { fp32_contents: Array.from(a) } }, { name: "b", datatype: "FP32", shape, contents: { fp32_contents: Array.from(b) } }] }
          : { inputs: [{ name: "a", datatype: "FP32", shape }, { name: "b", datatype: "FP32", shape }], raw_input_contents: [Buffer.from(a.buffer), Buffer.from(b.buffer)] };
      stream.write({ model: "s-add", id, priority: (index % 4) + 1, ...request });
    }
    stream.end();
    await finished;

    expect(errors).toEqual([]);
    expect(wrong).toEqual([]);
    expect(answers.size).toBe(count);
    expect([...answers.values()].every((times) => times === 1)).toBe(true);
    const stats = queueStats("s-add")!;
    expect(stats.dispatched).toBe(count);
    expect(stats.batches).toBeLessThan(count);
  }, 60_000);

  test("a failed request is answered with its domain error and the stream goes on", async () => {
    const stream = inference.InferStream!();
    const answers: any[] = [];
    const finished = new Promise<void>((resolve, reject) => {
      stream.on("data", (answer: unknown) => answers.push(answer));
      stream.on("error", reject);
      stream.on("end", resolve);
    });
    const inputs = [
      { name: "a", datatype: "FP32", shape: [1, 4], contents: { fp32_contents: [1, 2, 3, 4] } },
      { name: "b", datatype: "FP32", shape: [1, 4], contents: { fp32_contents: [1, 1, 1, 1] } },
    ];
    stream.write({ model: "s-missing", id: "unknown-model", inputs });
    stream.write({ model: "s-add", id: "bad-priority", priority: 9, inputs });
    stream.write({ model: "s-add", id: "bad-shape", inputs: [inputs[0]] });
    stream.write({ model: "s-add", id: "fine", inputs });
    stream.end();
    await finished;

    const byId = Object.fromEntries(answers.map((answer) => [answer.id, answer]));
    expect(answers).toHaveLength(4);
    expect(byId["unknown-model"]).toMatchObject({ result: "error", error: { code: "MODEL_NOT_FOUND", message: expect.stringContaining("s-missing") } });
    expect(byId["bad-priority"]).toMatchObject({ result: "error", error: { code: "INVALID_INPUT" } });
    expect(JSON.parse(byId["bad-priority"].error.details_json)).toEqual({ field: "priority" });
    expect(byId["bad-shape"]).toMatchObject({ result: "error", error: { code: "INVALID_INPUT" } });
    expect(byId.fine).toMatchObject({ result: "response", response: { outputs: [{ contents: { fp32_contents: [2, 3, 4, 5] } }] } });
  }, 30_000);

  test("cancelling the call drops its queued requests: they are counted cancelled and never run", async () => {
    // slow: ~1 s per request on one worker, not batchable, so requests queue behind each other.
    await core.models.register({ name: "s-slow", version: "1", task: "tensor", source: fixtures.slow });
    const sent = 6;
    const stream = inference.InferStream!();
    const received: string[] = [];
    const cancelled = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
    const firstAnswer = new Promise<void>((resolve) =>
      stream.on("data", (answer: { id: string }) => {
        received.push(answer.id);
        resolve();
      }),
    );
    for (let index = 0; index < sent; index++) {
      stream.write({ model: "s-slow", id: `slow-${index}`, inputs: [{ name: "x", datatype: "FP32", shape: [1, 512], contents: { fp32_contents: new Array(512).fill(0.5) } }] });
    }
    await firstAnswer;
    stream.cancel();
    expect((await cancelled).code).toBe(grpc.status.CANCELLED);
    await core.inference.drained();

    const stats = queueStats("s-slow")!;
    expect(stats.enqueued).toBe(sent);
    // One answered; at most one more was running when the cancel arrived; the rest never ran.
    expect(stats.dispatched).toBeLessThanOrEqual(2);
    expect(stats.cancelled).toBe(sent - stats.dispatched);
    expect(stats.queued).toBe(0);
    expect(received).toEqual(["slow-0"]);
  }, 60_000);
});

describe("StreamInference", () => {
  test("a 64 MiB output arrives complete and in order: header, then chunks of at most 1 MiB, then the end", async () => {
    const parts = await readStream({ model: "s-big", id: "big-1", inputs: [BIG_INPUT] });
    const [first, ...chunks] = parts;
    expect(first!.header).toMatchObject({
      model_name: "s-big",
      model_version: "1",
      id: "big-1",
      outputs: [{ name: "y", datatype: "FP32", shape: [String(LARGE_OUTPUT_ROWS), String(LARGE_OUTPUT_WIDTH)], byte_size: String(LARGE_OUTPUT_BYTES) }],
    });
    expect(chunks.length).toBe(LARGE_OUTPUT_BYTES / (1024 * 1024));
    const whole = Buffer.alloc(LARGE_OUTPUT_BYTES);
    let offset = 0;
    for (const part of chunks) {
      expect(part.chunk!.output_index).toBe(0);
      expect(Number(part.chunk!.offset)).toBe(offset);
      expect(part.chunk!.data.byteLength).toBeLessThanOrEqual(1024 * 1024);
      part.chunk!.data.copy(whole, offset);
      offset += part.chunk!.data.byteLength;
    }
    expect(offset).toBe(LARGE_OUTPUT_BYTES);
    const values = float32(whole);
    let firstWrong = -1;
    for (let index = 0; index < values.length; index++) {
      if (values[index] !== index) {
        firstWrong = index;
        break;
      }
    }
    expect(firstWrong).toBe(-1);
  }, 60_000);

  test("chunk_size_bytes sets the chunk size; above 4 MiB it is INVALID_ARGUMENT", async () => {
    const parts = await readStream({ model: "s-big", inputs: [BIG_INPUT], chunk_size_bytes: 3 * 1024 * 1024 });
    const sizes = parts.slice(1).map((part) => part.chunk!.data.byteLength);
    expect(sizes.length).toBe(Math.ceil(LARGE_OUTPUT_BYTES / (3 * 1024 * 1024)));
    expect(sizes.slice(0, -1).every((size) => size === 3 * 1024 * 1024)).toBe(true);
    expect(sizes.reduce((total, size) => total + size, 0)).toBe(LARGE_OUTPUT_BYTES);

    const error = (await readStream({ model: "s-big", inputs: [BIG_INPUT], chunk_size_bytes: 5 * 1024 * 1024 }).catch((failure) => failure)) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.metadata.get("x-modelmora-code")).toEqual(["INVALID_INPUT"]);
    const missing = (await readStream({ model: "s-nope", inputs: [BIG_INPUT] }).catch((failure) => failure)) as grpc.ServiceError;
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
  }, 60_000);

  test("cancelling mid-stream stops the sending; the next call is served in full", async () => {
    const stopped = nextLog("stream_inference_cancelled");
    const stream = inference.StreamInference!({ model: "s-big", id: "to-cancel", inputs: [BIG_INPUT], chunk_size_bytes: 64 * 1024 });
    const cancelled = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
    let chunksReceived = 0;
    await new Promise<void>((resolve) =>
      stream.on("data", (part: StreamPart) => {
        if (part.chunk && ++chunksReceived === 4) {
          // Stop reading, so the server's writes back up behind HTTP/2 flow control, then cancel.
          stream.pause();
          resolve();
        }
      }),
    );
    stream.cancel();
    expect((await cancelled).code).toBe(grpc.status.CANCELLED);
    const log = await stopped;
    expect(log).toMatchObject({ id: "to-cancel", totalChunks: LARGE_OUTPUT_BYTES / (64 * 1024) });
    expect(log.chunksSent as number).toBeLessThan(log.totalChunks as number);

    const parts = await readStream({ model: "s-big", id: "after-cancel", inputs: [BIG_INPUT] });
    expect(parts[0]!.header!.id).toBe("after-cancel");
    expect(parts.slice(1).reduce((total, part) => total + part.chunk!.data.byteLength, 0)).toBe(LARGE_OUTPUT_BYTES);
  }, 60_000);
});
