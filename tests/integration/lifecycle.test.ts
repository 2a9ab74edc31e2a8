/**
 * The model lifecycle with real worker processes: eviction under the memory budget and the
 * loaded-models cap, a model whose file is corrupted in the cache, two versions side by side, and
 * a version switch under load that fails no request.
 */
import { describe, expect, test } from "bun:test";
import { copyFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { referenceSlow } from "../fixtures/models.ts";
import { codeOf, startCore } from "../support/core-fixture.ts";
import type { ServerCore } from "../../src/server.ts";
import { processAlive } from "../support/processes.ts";
import { waitFor } from "../support/wait.ts";

const POLL = { timeoutMilliseconds: 10_000, intervalMilliseconds: 5 };

const MB = 1024 * 1024;
const ADD_INPUTS = [
  { name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] },
  { name: "b", shape: [1, 4], datatype: "FP32", data: [4, 3, 2, 1] },
];

/**
 * The resident size of one loaded `add` worker, measured with the same probe the budget uses: the
 * median of three workers, so one odd reading cannot set a budget that fits all three models.
 */
async function measureOneWorkerBytes(): Promise<number> {
  await using fixture = await startCore();
  const readings: number[] = [];
  for (const name of ["probe-1", "probe-2", "probe-3"]) {
    await fixture.core.models.register({ name, version: "1", task: "tensor", source: fixture.fixtures.add });
    readings.push((await fixture.core.models.load(name)).rssBytes!);
  }
  return readings.sort((left, right) => left - right)[1]!;
}

/** What the pool holds, for failure messages: name, state and RSS in MB of each model. */
function poolSummary(core: ServerCore): string {
  return JSON.stringify(core.pool.status().map((status) => [status.name, status.state, ((status.rssBytes ?? 0) / MB).toFixed(1)]));
}

describe("memory budget with real workers", () => {
  test("a budget that fits two of three models evicts the least recently used one; its process is gone", async () => {
    const workerBytes = await measureOneWorkerBytes();
    // Room for two workers and half of a third: the third load must evict one. No standby worker:
    // its reservation in the budget (tests/unit/admission.test.ts) would shift the arithmetic.
    const limitMb = Math.floor((2.5 * workerBytes) / MB);
    await using fixture = await startCore({ memoryLimitMb: String(limitMb), standbyWorkers: "0" });
    const { core, fixtures } = fixture;
    for (const name of ["first", "second", "third"]) {
      await core.models.register({ name, version: "1", task: "tensor", source: fixtures.add, config: { keepAliveSeconds: -1 } });
    }
    const infer = (model: string) => core.inference.infer({ model, inputs: ADD_INPUTS, priority: 3 });
    await infer("first");
    await infer("second");
    await infer("first"); // first is now the most recently used
    const secondPid = core.pool.statusOf("second", "1").pid!;
    const firstPid = core.pool.statusOf("first", "1").pid!;

    expect((await infer("third")).outputs[0]!.data).toEqual([5, 5, 5, 5]);
    await waitFor(() => !processAlive(secondPid), () => `second evicted under a ${limitMb} MB limit (one worker measured ${(workerBytes / MB).toFixed(1)} MB); pool: ${poolSummary(core)}`, POLL);
    expect(processAlive(firstPid)).toBe(true);
    expect(core.pool.status().map((status) => status.name).sort()).toEqual(["first", "third"]);
    expect(core.pool.statusOf("second", "1")).toMatchObject({ state: "unloaded", evictions: 1, loads: 1 });
    const totalBytes = core.pool.status().reduce((total, status) => total + status.rssBytes!, 0);
    expect(totalBytes).toBeLessThanOrEqual(limitMb * MB);

    // The evicted model comes back on demand, evicting the next least recently used (first).
    expect((await infer("second")).outputs[0]!.data).toEqual([5, 5, 5, 5]);
    await waitFor(() => !processAlive(firstPid), () => `first evicted under a ${limitMb} MB limit; pool: ${poolSummary(core)}`, POLL);
    expect(core.pool.statusOf("first", "1").evictions).toBe(1);
  });

  test("a model larger than the whole budget fails with INSUFFICIENT_MEMORY and nothing is spawned", async () => {
    await using fixture = await startCore({ memoryLimitMb: "64" });
    const { core, fixtures } = fixture;
    await core.models.register({ name: "huge", version: "1", task: "tensor", source: fixtures.add, config: { memoryMb: 128 } });
    expect(await codeOf(core.inference.infer({ model: "huge", inputs: ADD_INPUTS, priority: 3 }))).toBe("INSUFFICIENT_MEMORY");
    expect(core.pool.status()).toEqual([]);
  });

  test("MODELMORA_MAX_LOADED_MODELS caps loaded models, evicting the least recently used", async () => {
    await using fixture = await startCore({ maxLoadedModels: "1" });
    const { core, fixtures } = fixture;
    await core.models.register({ name: "one", version: "1", task: "tensor", source: fixtures.add });
    await core.models.register({ name: "two", version: "1", task: "tensor", source: fixtures.add });
    await core.inference.infer({ model: "one", inputs: ADD_INPUTS, priority: 3 });
    const onePid = core.pool.statusOf("one", "1").pid!;
    await core.inference.infer({ model: "two", inputs: ADD_INPUTS, priority: 3 });
    expect(processAlive(onePid)).toBe(false); // evicted and exited before the second worker started
    expect(core.pool.status().map((status) => status.name)).toEqual(["two"]);
  });
});

describe("a model file corrupted in the cache", () => {
  test("fails its loads, becomes unhealthy after 3 tries, other models keep serving, and an explicit load recovers it", async () => {
    await using fixture = await startCore();
    const { core, fixtures, dataDir } = fixture;
    await core.models.register({ name: "damaged", version: "1", task: "tensor", source: fixtures.add });
    await core.models.register({ name: "fine", version: "1", task: "tensor", source: fixtures.matmulRelu });
    const fineInputs = [{ name: "x", shape: [1, 8], datatype: "FP32", data: [1, 0, 0, 0, 0, 0, 0, 0] }];
    const { sha256 } = (await core.models.get("damaged")).versions[0]!;
    const cachedPath = path.join(dataDir, "models", "sha256", sha256);
    await writeFile(cachedPath, "not an onnx model any more");

    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await codeOf(core.inference.infer({ model: "damaged", inputs: ADD_INPUTS, priority: 3 }))).toBe("CHECKSUM_MISMATCH");
      expect(await codeOf(core.inference.infer({ model: "fine", inputs: fineInputs, priority: 3 }))).toBe("resolved");
    }
    expect(await codeOf(core.inference.infer({ model: "damaged", inputs: ADD_INPUTS, priority: 3 }))).toBe("UNHEALTHY_MODEL");
    expect(core.pool.statusOf("damaged", "1")).toMatchObject({ state: "unhealthy", consecutiveLoadFailures: 3, pids: [] });
    expect(core.pool.statusOf("fine", "1").state).toBe("ready");

    await copyFile(fixtures.add, cachedPath);
    expect((await core.models.load("damaged")).state).toBe("ready");
    expect((await core.inference.infer({ model: "damaged", inputs: ADD_INPUTS, priority: 3 })).outputs[0]!.data).toEqual([5, 5, 5, 5]);
  });
});

describe("versions", () => {
  test("two versions of one model are loaded at once and each answers on its own KServe path", async () => {
    await using fixture = await startCore();
    const { core, fixtures } = fixture;
    await core.models.register({ name: "dual", version: "1", task: "tensor", source: fixtures.add });
    await core.models.register({ name: "dual", version: "2", task: "tensor", source: fixtures.add });
    const post = async (url: string) => {
      const response = await core.app.handle(
        new Request(`http://localhost${url}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: ADD_INPUTS }) }),
      );
      return { status: response.status, body: (await response.json()) as { model_version: string; outputs: { data: number[] }[] } };
    };
    const one = await post("/v2/models/dual/versions/1/infer");
    const two = await post("/v2/models/dual/versions/2/infer");
    const active = await post("/v2/models/dual/infer");
    expect([one.status, two.status, active.status]).toEqual([200, 200, 200]);
    expect([one.body.model_version, two.body.model_version, active.body.model_version]).toEqual(["1", "2", "1"]);
    expect(two.body.outputs[0]!.data).toEqual([5, 5, 5, 5]);
    const loaded = core.pool.status().filter((status) => status.name === "dual");
    expect(loaded.map((status) => [status.version, status.state])).toEqual([
      ["1", "ready"],
      ["2", "ready"],
    ]);
    expect(loaded[0]!.pid).not.toBe(loaded[1]!.pid);
    expect((await post("/v2/models/dual/versions/9/infer")).status).toBe(404);
  });

  test("switching the active version under load fails no request: the new one loads first, the old one unloads when its work is done", async () => {
    await using fixture = await startCore();
    const { core, fixtures } = fixture;
    await core.models.register({ name: "switch", version: "1", task: "tensor", source: fixtures.slow });
    await core.models.register({ name: "switch", version: "2", task: "tensor", source: fixtures.slow });
    const x = Float32Array.from({ length: 512 }, (_, index) => ((index % 7) - 3) / 64);
    const infer = () => core.inference.infer({ model: "switch", inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: [...x] }], priority: 3 });

    await core.models.load("switch");
    const oldPid = core.pool.statusOf("switch", "1").pid!;
    const before = [infer(), infer(), infer()]; // one runs on version 1, two wait in its queue
    await waitFor(() => core.pool.statusOf("switch", "1").inFlight === 1, "the request to run on version 1", POLL);

    const switched = await core.models.setActiveVersion("switch", "2");
    expect(switched).toMatchObject({ activeVersion: "2", state: "ready" }); // loaded before the switch returned
    expect(processAlive(oldPid)).toBe(true); // still busy with its queue
    const after = [infer(), infer()];

    const answers = await Promise.all([...before, ...after]);
    expect(answers.map((answer) => answer.model_version)).toEqual(["1", "1", "1", "2", "2"]);
    const expected = referenceSlow(x);
    for (const answer of answers) {
      const data = answer.outputs[0]!.data as number[];
      expect(data).toHaveLength(512);
      data.forEach((value, index) => expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(expected[index]!))));
    }
    await waitFor(() => !processAlive(oldPid), `the old worker ${oldPid} to exit`, POLL);
    expect(core.pool.status().map((status) => status.version)).toEqual(["2"]);
  });
});
