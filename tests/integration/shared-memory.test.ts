/**
 * The shared-memory boundary with real workers: a worker killed with -9 mid-batch fails only its
 * own requests and gives its memory back; a cancelled request's space is reused at once; a full
 * arena answers QUEUE_FULL (and a request larger than the arena PAYLOAD_TOO_LARGE); and a reload
 * after a config change uses the new config, not the one of the model's first request.
 * (Batched answers equal to unbatched ones, and 10,000 requests across five models, run through the
 * same arenas in scheduling.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import path from "node:path";
import type { InferenceRequest } from "../../src/inference/service.ts";
import type { ServerCore } from "../../src/server.ts";
import { type FixtureModels, referenceAdd, referenceSlow } from "../fixtures/models.ts";
import { type CoreFixture, codeOf, startCore } from "../support/core-fixture.ts";
import { processAlive } from "../support/processes.ts";
import { temporaryDirectory, type TemporaryDirectory } from "../support/temporary-directory.ts";
import { waitFor } from "../support/wait.ts";

const POLL = { timeoutMilliseconds: 20_000, intervalMilliseconds: 2 };

/** One slow request's input is 512 floats = 2048 bytes: the arena holds exactly two. */
const SLOW_REQUEST_BYTES = 512 * 4;
const ARENA_MB = String((2 * SLOW_REQUEST_BYTES) / (1024 * 1024));

let shmParent: TemporaryDirectory;
let fixture: CoreFixture;
let core: ServerCore;
let fixtures: FixtureModels;

beforeAll(async () => {
  shmParent = await temporaryDirectory("modelmora-shm-test-");
  fixture = await startCore({ shmDir: shmParent.path, shmMb: ARENA_MB, standbyWorkers: "0" });
  ({ core, fixtures } = fixture);
});

afterAll(async () => {
  await fixture[Symbol.asyncDispose]();
  expect(readdirSync(shmParent.path)).toEqual([]); // close() removed the server's arenas
  await shmParent[Symbol.asyncDispose]();
});

function slowInput(value: number): InferenceRequest["inputs"] {
  return [{ name: "x", shape: [1, 512], datatype: "FP32", data: new Array(512).fill(value) }];
}

function infer(model: string, inputs: InferenceRequest["inputs"], extra: Partial<InferenceRequest> = {}) {
  return core.inference.infer({ model, inputs, priority: 3, ...extra });
}

function queueOf(model: string) {
  return Object.entries(core.inference.queueStats()).find(([key]) => key.startsWith(`${model}@`))?.[1];
}

function outputArenaFiles(): string[] {
  return readdirSync(core.sharedMemory.directory).filter((name) => name.startsWith("out-"));
}

describe("shared memory with real workers", () => {
  test("a worker killed with -9 mid-batch fails only its own request, frees its shared memory and its output arena file", async () => {
    await core.models.register({ name: "k-slow", version: "1", task: "tensor", source: fixtures.slow, config: {} });
    await core.models.register({ name: "k-add", version: "1", task: "tensor", source: fixtures.add, config: {} });
    await core.models.load("k-add");
    await core.models.load("k-slow");
    const running = infer("k-slow", slowInput(0.5));
    await waitFor(() => queueOf("k-slow")?.inFlightBatches === 1, "the slow request to run", POLL);
    const queued = infer("k-slow", slowInput(0.25));
    await waitFor(() => queueOf("k-slow")?.queued === 1, "the second request to queue", POLL);
    const pid = core.pool.statusOf("k-slow", "1").pid!;
    expect(outputArenaFiles()).toHaveLength(2); // k-add's worker and k-slow's

    process.kill(pid, "SIGKILL");
    expect(await codeOf(running)).toBe("INFERENCE_FAILED");
    // The queued request goes to a fresh worker; the other model never noticed.
    const answer = await queued;
    expect(answer.outputs[0]!.data).toEqual(Array.from(referenceSlow(new Float32Array(512).fill(0.25))));
    const added = await infer("k-add", [
      { name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] },
      { name: "b", shape: [1, 4], datatype: "FP32", data: [4, 3, 2, 1] },
    ]);
    expect(added.outputs[0]!.data).toEqual(Array.from(referenceAdd(Float32Array.from([1, 2, 3, 4]), Float32Array.from([4, 3, 2, 1]))));
    await waitFor(() => !processAlive(pid), "the killed worker to be reaped", POLL);
    expect(core.sharedMemory.inputBytesInUse()).toBe(0);
    expect(outputArenaFiles()).toHaveLength(2); // the dead worker's file is gone, its replacement has one
    await core.pool.unload("k-slow");
  });

  test("a cancelled queued request's space is reused at once, and a full arena answers QUEUE_FULL", async () => {
    await core.models.load("k-slow");
    const running = infer("k-slow", slowInput(1));
    await waitFor(() => queueOf("k-slow")?.inFlightBatches === 1, "the first request to run", POLL);
    const controller = new AbortController();
    const cancelled = infer("k-slow", slowInput(2), { signal: controller.signal });
    await waitFor(() => queueOf("k-slow")?.queued === 1, "the second request to queue", POLL);
    expect(core.sharedMemory.inputBytesInUse()).toBe(2 * SLOW_REQUEST_BYTES); // the arena is full

    // A third request finds no space; with a short deadline it gets the documented code.
    const refused = infer("k-slow", slowInput(3), { timeoutMicroseconds: 200_000 });
    const refusal = await refused.catch((error: { code: string; message: string }) => error);
    expect(refusal).toMatchObject({ code: "QUEUE_FULL", message: expect.stringContaining("shared-memory arena") });

    // Without a short deadline it waits; cancelling the queued one hands it that space.
    const waiting = infer("k-slow", slowInput(4));
    await Bun.sleep(50);
    expect(queueOf("k-slow")?.queued).toBe(1); // still waiting for space, not queued
    controller.abort();
    expect(await codeOf(cancelled)).toBe("CANCELLED");
    await waitFor(() => queueOf("k-slow")?.queued === 1 && core.sharedMemory.inputBytesInUse() === 2 * SLOW_REQUEST_BYTES, "the waiting request to take the freed space", POLL);
    expect((await running).outputs[0]!.data).toEqual(Array.from(referenceSlow(new Float32Array(512).fill(1))));
    expect((await waiting).outputs[0]!.data).toEqual(Array.from(referenceSlow(new Float32Array(512).fill(4))));
    expect(core.sharedMemory.inputBytesInUse()).toBe(0);
  });

  test("a request larger than the whole arena is PAYLOAD_TOO_LARGE at once", async () => {
    const rows = 300; // two inputs of 300×4 floats: 9,600 bytes > 4,096
    const input = (name: string) => ({ name, shape: [rows, 4], datatype: "FP32", data: new Array(rows * 4).fill(1) });
    const error = await infer("k-add", [input("a"), input("b")]).catch((caught: { code: string }) => caught);
    expect(error).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });

  test("a reload after a config change uses the new config, not the first request's", async () => {
    await core.models.register({ name: "c-add", version: "1", task: "tensor", source: fixtures.add, config: { keepAliveSeconds: 300 } });
    const inputs = [
      { name: "a", shape: [1, 4], datatype: "FP32", data: [1, 1, 1, 1] },
      { name: "b", shape: [1, 4], datatype: "FP32", data: [2, 2, 2, 2] },
    ];
    await infer("c-add", inputs);
    expect(core.pool.stateOf("c-add", "1")).toBe("ready");
    await core.pool.unload("c-add");
    await core.models.updateConfig("c-add", { keepAliveSeconds: 0 });
    await infer("c-add", inputs); // reloads: with keep-alive 0 it unloads as soon as it is idle
    await waitFor(() => core.pool.stateOf("c-add", "1") === "unloaded", "the model to unload with the new keep-alive", POLL);
  });
});

test("server arenas live under one directory per server, named for its pid", () => {
  expect(path.basename(core.sharedMemory.directory)).toMatch(new RegExp(`^modelmora-${process.pid}-\\d+$`));
});
