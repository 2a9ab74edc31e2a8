/**
 * MODELMORA_WORKER_MEMORY_LIMIT_MB: workers start under RLIMIT_AS (through prlimit), so a request
 * whose intermediate tensor would take gigabytes fails inside the worker instead of taking the
 * machine's memory; requests within the limit are answered (checked against a reference) before
 * and after. Real worker processes, real onnxruntime, a model built here whose Expand is sized by
 * the request.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { encodeModel, tensor } from "../fixtures/onnx-builder.ts";
import { codeOf, startCore } from "../support/core-fixture.ts";

/** x FP32 [1,1], shape INT64 [2] → y FP32 [1,1] = the sum of x expanded to `shape` = x · rows · columns. */
function expanderModel(): Uint8Array {
  return encodeModel({
    name: "expander",
    inputs: [tensor("x", "float32", [1, 1]), tensor("shape", "int64", [2])],
    outputs: [tensor("y", "float32", [1, 1])],
    nodes: [
      { opType: "Expand", inputs: ["x", "shape"], outputs: ["expanded"] },
      { opType: "ReduceSum", inputs: ["expanded"], outputs: ["y"] },
    ],
    initializers: [],
  });
}

// The worker maps two shared-memory arenas (MODELMORA_SHM_MB each, 64 here) and reserves thread
// stacks: about 3.4 GB of address space with the default 256 MB arenas, before any model runs.
const LIMIT_MB = 3072;

test("a worker under RLIMIT_AS refuses a multi-gigabyte intermediate and keeps answering within it", async () => {
  await using fixture = await startCore({ standbyWorkers: "0", shmMb: "64", workerMemoryLimitMb: String(LIMIT_MB) });
  const { core } = fixture;
  const source = path.join(path.dirname(fixture.fixtures.add), "expander.onnx");
  await Bun.write(source, expanderModel());
  await core.models.register({ name: "expander", version: "1", task: "tensor", source });
  const expand = (rows: number, columns: number) =>
    core.inference.infer({
      model: "expander",
      priority: 3,
      inputs: [
        { name: "x", shape: [1, 1], datatype: "FP32", data: [0.5] },
        { name: "shape", shape: [2], datatype: "INT64", data: [rows, columns] },
      ],
    });

  expect((await expand(64, 32)).outputs[0]!.data).toEqual([0.5 * 64 * 32]);
  const pid = core.pool.statusOf("expander", "1").pids[0]!;
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
  expect(limits).toMatch(new RegExp(`Max address space\\s+${LIMIT_MB * 1024 * 1024}\\s+${LIMIT_MB * 1024 * 1024}\\s+bytes`));

  // 32768 × 32768 FP32 = 4 GiB: more than the whole limit.
  expect(await codeOf(expand(32_768, 32_768))).toBe("INFERENCE_FAILED");
  expect((await expand(128, 8)).outputs[0]!.data).toEqual([0.5 * 128 * 8]);
});
