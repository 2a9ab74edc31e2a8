/**
 * The scheduler with real worker processes: batched results equal unbatched ones, strict priority
 * under a flood, deadlines, cancellation, queue limits, replicas, and 10,000 requests across five
 * models with none lost or duplicated.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { InferenceRequest } from "../../src/inference/service.ts";
import type { ServerCore } from "../../src/server.ts";
import { type FixtureModels, referenceAdd, referenceMatmulRelu, referenceTwoInTwoOut } from "../fixtures/models.ts";
import { type CoreFixture, codeOf, startCore } from "../support/core-fixture.ts";
import { waitFor } from "../support/wait.ts";

const POLL = { timeoutMilliseconds: 15_000, intervalMilliseconds: 2 };

/** Batched and single runs do the same float32 arithmetic per row; 1e-6 leaves room for kernel choice. */
const TOLERANCE = 1e-6;

let fixture: CoreFixture;
let core: ServerCore;
let fixtures: FixtureModels;

beforeAll(async () => {
  fixture = await startCore();
  ({ core, fixtures } = fixture);
});

afterAll(async () => fixture[Symbol.asyncDispose]());

function register(name: string, source: string, config: Record<string, unknown> = {}) {
  return core.models.register({ name, version: "1", task: "tensor", source, config });
}

function infer(model: string, inputs: InferenceRequest["inputs"], extra: Partial<InferenceRequest> = {}) {
  return core.inference.infer({ model, inputs, priority: 3, ...extra });
}

function stats(model: string) {
  const entry = Object.entries(core.inference.queueStats()).find(([key]) => key.startsWith(`${model}@`));
  // The queue is created by the model's first request, once it has been resolved in the registry.
  return entry?.[1] ?? { queued: 0, inFlightBatches: 0, enqueued: 0, dispatched: 0, batches: 0, rejectedQueueFull: 0, expired: 0, cancelled: 0 };
}


function expectClose(actual: number[], expected: ArrayLike<number>) {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, index) => expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(TOLERANCE));
}

const SLOW_INPUT = [{ name: "x", shape: [1, 512], datatype: "FP32", data: new Array(512).fill(0.5) }];

describe("batching with real workers", () => {
  test("batched results equal the reference for every batchable fixture, and batches really form", async () => {
    await register("b-add", fixtures.add, { maxBatchSize: 16, maxQueueDelayMicroseconds: 20_000 });
    await register("b-mm", fixtures.matmulRelu, { maxBatchSize: 16, maxQueueDelayMicroseconds: 20_000 });
    await register("b-two", fixtures.twoInTwoOut, { maxBatchSize: 16, maxQueueDelayMicroseconds: 20_000 });
    await Promise.all(["b-add", "b-mm", "b-two"].map((name) => core.models.load(name)));

    const checks: Promise<void>[] = [];
    for (let index = 0; index < 12; index++) {
      const rows = (index % 3) + 1;
      const a = Float32Array.from({ length: rows * 4 }, (_, k) => index + k / 8);
      const b = Float32Array.from({ length: rows * 4 }, (_, k) => -k / 4);
      checks.push(
        infer("b-add", [
          { name: "a", shape: [rows, 4], datatype: "FP32", data: Array.from(a) },
          { name: "b", shape: [rows, 4], datatype: "FP32", data: Array.from(b) },
        ]).then((response) => expectClose(response.outputs[0]!.data as number[], referenceAdd(a, b))),
      );
      const x = Float32Array.from({ length: rows * 8 }, (_, k) => ((index * 7 + k) % 11) / 4 - 1);
      checks.push(
        infer("b-mm", [{ name: "x", shape: [rows, 8], datatype: "FP32", data: Array.from(x) }]).then((response) =>
          expectClose(response.outputs[0]!.data as number[], referenceMatmulRelu(x, rows)),
        ),
      );
      const xs = Float32Array.from({ length: rows * 3 }, (_, k) => k / 2);
      const ns = BigInt64Array.from({ length: rows * 3 }, (_, k) => BigInt(index * 10 + k));
      checks.push(
        infer("b-two", [
          { name: "x", shape: [rows, 3], datatype: "FP32", data: Array.from(xs) },
          { name: "n", shape: [rows, 3], datatype: "INT64", data: Array.from(ns, Number) },
        ]).then((response) => {
          const reference = referenceTwoInTwoOut(xs, ns);
          const byName = Object.fromEntries(response.outputs.map((output) => [output.name, output.data as number[]]));
          expectClose(byName.sum!, reference.sum);
          expect(byName.square).toEqual(Array.from(reference.square, Number));
        }),
      );
    }
    await Promise.all(checks);
    for (const name of ["b-add", "b-mm", "b-two"]) {
      const counters = stats(name);
      expect(counters.dispatched).toBe(12);
      expect(counters.batches).toBeLessThan(12);
    }
  });

  test("batched outputs equal the same requests run one by one, for every batchable fixture", async () => {
    const cases: { source: string; inputs: (row: number, rows: number) => InferenceRequest["inputs"] }[] = [
      {
        source: fixtures.add,
        inputs: (seed, rows) => [
          { name: "a", shape: [rows, 4], datatype: "FP32", data: Array.from({ length: rows * 4 }, (_, k) => Math.sin(seed + k)) },
          { name: "b", shape: [rows, 4], datatype: "FP32", data: Array.from({ length: rows * 4 }, (_, k) => Math.cos(seed * k)) },
        ],
      },
      {
        source: fixtures.matmulRelu,
        inputs: (seed, rows) => [{ name: "x", shape: [rows, 8], datatype: "FP32", data: Array.from({ length: rows * 8 }, (_, k) => Math.sin(seed * 3 + k)) }],
      },
      {
        source: fixtures.twoInTwoOut,
        inputs: (seed, rows) => [
          { name: "x", shape: [rows, 3], datatype: "FP32", data: Array.from({ length: rows * 3 }, (_, k) => Math.cos(seed + k)) },
          { name: "n", shape: [rows, 3], datatype: "INT64", data: Array.from({ length: rows * 3 }, (_, k) => seed * 7 - k) },
        ],
      },
    ];
    for (const [index, { source, inputs }] of cases.entries()) {
      await register(`eq-batched-${index}`, source, { maxBatchSize: 16, maxQueueDelayMicroseconds: 20_000 });
      await register(`eq-single-${index}`, source);
      const requests = Array.from({ length: 10 }, (_, seed) => inputs(seed, (seed % 3) + 1));
      const batched = await Promise.all(requests.map((request) => infer(`eq-batched-${index}`, request)));
      const single: Awaited<ReturnType<typeof infer>>[] = [];
      for (const request of requests) single.push(await infer(`eq-single-${index}`, request));
      expect(stats(`eq-batched-${index}`).batches).toBeLessThan(10);
      expect(stats(`eq-single-${index}`).batches).toBe(10);
      batched.forEach((response, position) => {
        const alone = single[position]!;
        expect(response.outputs.map((output) => [output.name, output.shape])).toEqual(alone.outputs.map((output) => [output.name, output.shape]));
        response.outputs.forEach((output, outputIndex) => expectClose(output.data as number[], alone.outputs[outputIndex]!.data as number[]));
      });
    }
  });

  test("a model without a dynamic batch dimension is never batched", async () => {
    await register("b-fixed", fixtures.fixedShape, { maxBatchSize: 16, maxQueueDelayMicroseconds: 20_000 });
    const data = [1, 2, 3, 4, 5, 6];
    const responses = await Promise.all(Array.from({ length: 6 }, () => infer("b-fixed", [{ name: "x", shape: [2, 3], datatype: "FP32", data }])));
    for (const response of responses) expectClose(response.outputs[0]!.data as number[], data.map((value) => value * 2));
    expect(stats("b-fixed")).toMatchObject({ dispatched: 6, batches: 6 });
  });
});

describe("queue policy with real workers", () => {
  test("strict priority under a flood: after the running request, completion follows priority, FIFO within a level", async () => {
    await register("p-slow", fixtures.slow);
    await core.models.load("p-slow");
    const completed: string[] = [];
    const blocker = infer("p-slow", SLOW_INPUT).then(() => completed.push("blocker"));
    await waitFor(() => stats("p-slow").inFlightBatches === 1, "the blocker to run", POLL);
    const flood: Promise<unknown>[] = [];
    const labels = ["low-a", "normal-a", "high-a", "critical-a", "high-b", "critical-b"];
    const priorities: Record<string, 1 | 2 | 3 | 4> = { critical: 1, high: 2, normal: 3, low: 4 };
    for (const label of labels) {
      flood.push(infer("p-slow", SLOW_INPUT, { priority: priorities[label.split("-")[0]!]! }).then(() => completed.push(label)));
      await waitFor(() => stats("p-slow").enqueued === flood.length + 1, `${label} to be queued`, POLL);
    }
    await Promise.all([blocker, ...flood]);
    expect(completed).toEqual(["blocker", "critical-a", "critical-b", "high-a", "high-b", "normal-a", "low-a"]);
  }, 60_000);

  test("a deadline that passes while queued: 504 and the request never runs; a cancelled request never runs", async () => {
    await register("d-slow", fixtures.slow);
    await core.models.load("d-slow");
    const blocker = infer("d-slow", SLOW_INPUT);
    await waitFor(() => stats("d-slow").inFlightBatches === 1, "the blocker to run", POLL);
    const late = infer("d-slow", SLOW_INPUT, { timeoutMicroseconds: 100_000 });
    const controller = new AbortController();
    const cancelled = infer("d-slow", SLOW_INPUT, { signal: controller.signal });
    await waitFor(() => stats("d-slow").queued === 2, "both to queue", POLL);
    controller.abort();
    expect(await codeOf(cancelled)).toBe("CANCELLED");
    expect(await codeOf(late)).toBe("INFERENCE_TIMEOUT");
    await blocker;
    expect(stats("d-slow")).toMatchObject({ dispatched: 1, expired: 1, cancelled: 1, queued: 0 });
  }, 30_000);

  test("a full queue answers 429 QUEUE_FULL with Retry-After over REST", async () => {
    await register("q-slow", fixtures.slow, { maxQueueSize: 1 });
    await core.models.load("q-slow");
    const blocker = infer("q-slow", SLOW_INPUT);
    await waitFor(() => stats("q-slow").inFlightBatches === 1, "the blocker to run", POLL);
    const queued = infer("q-slow", SLOW_INPUT);
    await waitFor(() => stats("q-slow").queued === 1, "one to queue", POLL);
    const response = await core.app.handle(
      new Request("http://localhost/api/v1/infer/q-slow", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: SLOW_INPUT }) }),
    );
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("1");
    expect(await response.json()).toMatchObject({ code: "QUEUE_FULL" });
    await Promise.all([blocker, queued]);
  }, 30_000);

  test("replicas: two worker processes share one queue and run batches side by side", async () => {
    await register("r-slow", fixtures.slow, { replicas: 2 });
    const loaded = await core.models.load("r-slow");
    expect(loaded.pids).toHaveLength(2);
    expect(new Set(loaded.pids).size).toBe(2);
    const work = [infer("r-slow", SLOW_INPUT), infer("r-slow", SLOW_INPUT)];
    const replicaInFlight = () => core.pool.status().find((status) => status.name === "r-slow")!.replicaInFlight;
    await waitFor(() => replicaInFlight().every((count) => count === 1), "both replicas to be busy", POLL);
    await Promise.all(work);
  }, 30_000);
});

describe("volume", () => {
  test("10,000 queued requests across 5 models all complete, none lost, none duplicated", async () => {
    const models = ["v-0", "v-1", "v-2", "v-3", "v-4"];
    for (const name of models) await register(name, fixtures.add, { maxBatchSize: 32, maxQueueDelayMicroseconds: 1000 });
    const answers = new Map<number, number>();
    const requests: Promise<void>[] = [];
    for (let id = 0; id < 10_000; id++) {
      // a = [id, 0, 0, 0], b = 0: the first output element identifies the request.
      requests.push(
        infer(models[id % 5]!, [
          { name: "a", shape: [1, 4], datatype: "FP32", data: [id, 0, 0, 0] },
          { name: "b", shape: [1, 4], datatype: "FP32", data: [0, 0, 0, 1] },
        ], { id: String(id), priority: ((id % 4) + 1) as 1 | 2 | 3 | 4 }).then((response) => {
          expect(response.id).toBe(String(id));
          answers.set(id, (answers.get(id) ?? 0) + 1);
          expect(response.outputs[0]!.data).toEqual([id, 0, 0, 1]);
        }),
      );
    }
    await Promise.all(requests);
    expect(answers.size).toBe(10_000);
    expect([...answers.values()].every((count) => count === 1)).toBe(true);
    const totals = models.map((name) => stats(name));
    expect(totals.reduce((sum, counters) => sum + counters.dispatched, 0)).toBe(10_000);
    expect(totals.every((counters) => counters.queued === 0)).toBe(true);
  }, 120_000);
});
