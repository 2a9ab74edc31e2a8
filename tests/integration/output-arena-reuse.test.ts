/**
 * A worker's output arena reuses its lowest free space: answers written one after another land on
 * the same pages, so the arena's resident size stays at one answer's size instead of growing through
 * the whole arena (each first touch of a page costs a page fault, and the pages stay resident). Real
 * worker, real onnxruntime; the pages in use are read from the arena file's allocated blocks. The server
 * reads answers through one kept mapping of the arena's start: answers in flight together stay apart.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { ServerCore } from "../../src/server.ts";
import { referenceAdd } from "../fixtures/models.ts";
import { type CoreFixture, startCore } from "../support/core-fixture.ts";
import { temporaryDirectory, type TemporaryDirectory } from "../support/temporary-directory.ts";

/** 8,192 rows of 4 floats: a 128 KiB answer, above the size that travels inline in the message. */
const ROWS = 8_192;
const ANSWER_BYTES = ROWS * 4 * 4;
const SEQUENTIAL_ANSWERS = 12;

let shmParent: TemporaryDirectory;
let fixture: CoreFixture;
let core: ServerCore;

beforeAll(async () => {
  shmParent = await temporaryDirectory("modelmora-output-arena-");
  fixture = await startCore({ shmDir: shmParent.path, shmMb: "8", standbyWorkers: "0" });
  core = fixture.core;
});

afterAll(async () => {
  await fixture[Symbol.asyncDispose]();
  await shmParent[Symbol.asyncDispose]();
});

function allocatedBytes(filePath: string): number {
  return statSync(filePath).blocks * 512;
}

test("answers written one after another reuse the output arena's first pages", async () => {
  await core.models.register({ name: "add", version: "1", task: "tensor", source: fixture.fixtures.add, config: {} });
  await core.models.load("add");
  const [outputArena] = readdirSync(core.sharedMemory.directory).filter((name) => name.startsWith("out-"));
  expect(outputArena).toBeDefined();
  const arenaPath = path.join(core.sharedMemory.directory, outputArena!);
  const before = allocatedBytes(arenaPath);

  for (let index = 0; index < SEQUENTIAL_ANSWERS; index++) {
    const a = Float32Array.from({ length: ROWS * 4 }, (_, element) => element + index);
    const b = Float32Array.from({ length: ROWS * 4 }, (_, element) => -2 * element);
    const answer = await core.inference.infer({
      model: "add",
      priority: 3,
      inputs: [
        { name: "a", shape: [ROWS, 4], datatype: "FP32", data: Array.from(a) },
        { name: "b", shape: [ROWS, 4], datatype: "FP32", data: Array.from(b) },
      ],
    });
    expect(answer.outputs[0]!.data).toEqual(Array.from(referenceAdd(a, b)));
  }

  // Next-fit placement would have touched SEQUENTIAL_ANSWERS × 128 KiB; first fit touches one answer's pages.
  const grownBytes = allocatedBytes(arenaPath) - before;
  expect(grownBytes).toBeGreaterThanOrEqual(ANSWER_BYTES);
  expect(grownBytes).toBeLessThan(2 * ANSWER_BYTES);
});

test("answers read through the server's kept mapping of the arena are each request's own, also when several are in flight", async () => {
  const requests = Array.from({ length: 6 }, (_, index) => {
    const a = Float32Array.from({ length: ROWS * 4 }, (_, element) => element * (index + 1));
    const b = Float32Array.from({ length: ROWS * 4 }, (_, element) => index - element);
    return { a, b };
  });
  const answers = await Promise.all(
    requests.map(({ a, b }) =>
      core.inference.infer({
        model: "add",
        priority: 3,
        inputs: [
          { name: "a", shape: [ROWS, 4], datatype: "FP32", data: Array.from(a) },
          { name: "b", shape: [ROWS, 4], datatype: "FP32", data: Array.from(b) },
        ],
      }),
    ),
  );
  answers.forEach((answer, index) => expect(answer.outputs[0]!.data).toEqual(Array.from(referenceAdd(requests[index]!.a, requests[index]!.b))));
});
