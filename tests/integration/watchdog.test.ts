/**
 * Load timeout and inference watchdog with real worker processes and a real stalling model (3,000
 * chained 1-GFLOP MatMuls: many seconds of onnxruntime compute even on a fast machine).
 * - A load still running after MODELMORA_LOAD_TIMEOUT_SECONDS (the slow model's warm-up run) is
 *   killed and fails MODEL_LOAD_FAILED; an inspection that cannot finish in time likewise.
 * - A worker still computing a batch past its requests' deadline plus MODELMORA_WATCHDOG_GRACE_SECONDS
 *   is killed (long before the compute would end) and replaced; its request got INFERENCE_TIMEOUT,
 *   another model's worker keeps its pid and answers correctly.
 */
import { describe, expect, test } from "bun:test";
import type { InferenceRequest } from "../../src/inference/service.ts";
import type { ServerCore } from "../../src/server.ts";
import path from "node:path";
import { type FixtureModels, referenceAdd, slowModel } from "../fixtures/models.ts";
import { codeOf, startCore } from "../support/core-fixture.ts";
import { childPids, processAlive } from "../support/processes.ts";
import { rejection } from "../support/rejection.ts";
import { waitFor } from "../support/wait.ts";

const POLL = { timeoutMilliseconds: 20_000, intervalMilliseconds: 5 };

/** Writes the stalling model next to the fixtures (inside the source directories the policy allows). */
async function writeStallModel(fixtures: FixtureModels): Promise<string> {
  const filePath = path.join(path.dirname(fixtures.slow), "stall.onnx");
  await Bun.write(filePath, slowModel(3000));
  return filePath;
}

function slowInput(value: number): InferenceRequest["inputs"] {
  return [{ name: "x", shape: [1, 512], datatype: "FP32", data: new Array(512).fill(value) }];
}

async function checkAdd(core: ServerCore): Promise<void> {
  const a = [1, 2, 3, 4];
  const b = [0.5, -1, 2, 8];
  const answer = await core.inference.infer({
    model: "w-add",
    priority: 3,
    inputs: [
      { name: "a", shape: [1, 4], datatype: "FP32", data: a },
      { name: "b", shape: [1, 4], datatype: "FP32", data: b },
    ],
  });
  expect(answer.outputs[0]!.data).toEqual(Array.from(referenceAdd(Float32Array.from(a), Float32Array.from(b))));
}

describe("load timeout", () => {
  test("a load still warming up after the timeout is killed and fails MODEL_LOAD_FAILED naming the setting", async () => {
    await using fixture = await startCore({ loadTimeoutSeconds: "8", standbyWorkers: "0" });
    const { core, fixtures } = fixture;
    await core.models.register({ name: "w-slow", version: "1", task: "tensor", source: await writeStallModel(fixtures) });
    await core.models.register({ name: "w-add", version: "1", task: "tensor", source: fixtures.add });
    const started = performance.now();
    const before = new Set(childPids(process.pid));
    const loading = rejection(core.models.load("w-slow")); // an explicit load runs the warm-up inference: seconds
    const [pid] = await waitFor(() => {
      const started = childPids(process.pid).filter((child) => !before.has(child));
      return started.length === 1 ? started : undefined;
    }, "the slow model's worker to start", POLL);
    const error = await loading;
    expect(error.code).toBe("MODEL_LOAD_FAILED");
    expect(error.message).toContain("did not load within 8 s (MODELMORA_LOAD_TIMEOUT_SECONDS)");
    expect(performance.now() - started).toBeLessThan(18_000); // the warm-up alone would take ~20 s
    await waitFor(() => !processAlive(pid!), "the hung worker to be gone", POLL);
    await checkAdd(core);
  });

  test("an inspection that cannot finish within the timeout fails MODEL_LOAD_FAILED and stores nothing", async () => {
    await using fixture = await startCore({ loadTimeoutSeconds: "0.001", standbyWorkers: "0" });
    const { core, fixtures } = fixture;
    const error = await rejection(core.models.register({ name: "w-add", version: "1", task: "tensor", source: fixtures.add }));
    expect(error.code).toBe("MODEL_LOAD_FAILED");
    expect(error.message).toContain("MODELMORA_LOAD_TIMEOUT_SECONDS");
    expect(await codeOf(core.models.get("w-add"))).toBe("MODEL_NOT_FOUND");
  });
});

describe("inference watchdog", () => {
  test("a worker computing past its request's deadline plus grace is killed and replaced; other models are untouched", async () => {
    await using fixture = await startCore({ watchdogGraceSeconds: "0.3", standbyWorkers: "0" });
    const { core, fixtures } = fixture;
    await core.models.register({ name: "w-slow", version: "1", task: "tensor", source: await writeStallModel(fixtures) });
    await core.models.register({ name: "w-add", version: "1", task: "tensor", source: fixtures.add });
    await checkAdd(core);
    const addPid = core.pool.statusOf("w-add", "1").pids[0]!;

    // Loads on first use (no warm-up), then computes for seconds; its deadline is 1.5 s away.
    const late = core.inference.infer({ model: "w-slow", priority: 3, inputs: slowInput(1), timeoutMicroseconds: 1_500_000 });
    await waitFor(() => core.pool.statusOf("w-slow", "1").pids.length === 1, "the slow model's worker to start", POLL);
    const slowPid = core.pool.statusOf("w-slow", "1").pids[0]!;
    expect(await codeOf(late)).toBe("INFERENCE_TIMEOUT");
    await waitFor(() => !processAlive(slowPid), "the watchdog to kill the worker", POLL);
    // A worker that finished computing would still be alive: its death, by a signal, is the watchdog.
    // (On a quiet machine it dies ~1.8 s after the request, its deadline plus grace; when the load
    // itself outlasts the deadline, as on a busy machine, at once after the load.)
    await waitFor(() => /signal SIG(TERM|KILL)/.test(core.pool.statusOf("w-slow", "1").lastError ?? ""), "the pool to record the kill", POLL);

    // The other model's worker never noticed; the slow model gets a fresh worker on its next request.
    expect(processAlive(addPid)).toBe(true);
    await checkAdd(core);
    expect(core.pool.statusOf("w-add", "1").pids).toEqual([addPid]);
    const again = core.inference.infer({ model: "w-slow", priority: 3, inputs: slowInput(1), timeoutMicroseconds: 1_000_000 });
    await waitFor(() => core.pool.statusOf("w-slow", "1").pids.length === 1, "a replacement worker", POLL);
    expect(core.pool.statusOf("w-slow", "1").pids[0]).not.toBe(slowPid);
    expect(await codeOf(again)).toBe("INFERENCE_TIMEOUT");
  });
});
