/**
 * Server lifecycle end to end, on real `modelmora serve` processes: SIGTERM drains the queue
 * within the grace period (and drops what is left when it expires, without leaving workers
 * behind), and unloading a model gives its memory back.
 *
 * Each test starts its own server on port 0 with its own data directory and database (embedded SQLite, or
 * a fresh PostgreSQL database when DATABASE_URL is set). No fixed sleeps: every wait polls a
 * condition with a bound.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { type FixtureModels, referenceAdd, referenceSlow, writeFixtureModels } from "../fixtures/models.ts";
import { childPids, processAlive } from "../support/processes.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

/** The fixture models are exact in float32; 1e-6 leaves room for summation order. */
const FIXTURE_TOLERANCE = 1e-6;

/** Upper bound for every polled condition (a queue filling, a process exiting). */
const POLL_BOUND_MILLISECONDS = 15_000;

/**
 * How long a server with a 1 s grace period may take to exit after SIGTERM: the grace period, up
 * to 2 s for a worker to die after its SIGTERM (the pool's SIGKILL fallback), up to 1 s for open
 * connections to close, and 1 s for process teardown. The queued work it abandons is longer.
 */
const SHUTDOWN_BOUND_MILLISECONDS = 5_000;

/** How often the queue is polled while waiting for it to fill. */
const POLL_INTERVAL_MILLISECONDS = 20;
const POLL = { timeoutMilliseconds: POLL_BOUND_MILLISECONDS, intervalMilliseconds: POLL_INTERVAL_MILLISECONDS };

/**
 * The issue's requirement: after unload, server RSS + workers' RSS is back within 5 MB of what it
 * was before the load. 5,000,000 bytes: the stricter reading of "MB".
 */
const RSS_RETURN_BOUND_BYTES = 5_000_000;

/** RSS counts as settled once this many consecutive samples, this far apart, lie within the spread. */
const RSS_SETTLED_SAMPLES = 10;
const RSS_SAMPLE_INTERVAL_MILLISECONDS = 100;
const RSS_SETTLED_SPREAD_BYTES = 512 * 1024;

/** Inferences per load/unload cycle in the memory test. */
const CYCLE_INFERENCES = 20;

/** Load/unload cycles run before the memory test's "before" reading (see the test for why two). */
const WARM_UP_CYCLES = 2;

/** What a client saw: an HTTP answer, or no answer at all (refused or reset connection). */
type Outcome = { kind: "response"; status: number; body: any } | { kind: "connection-error"; message: string };

interface StatusView {
  models: { name: string; pid: number | null; pids: number[] }[];
  memory: { serverRssBytes: number; workersRssBytes: number };
  queue: { queued: number; inFlightBatches: number };
}

async function post(baseUrl: string, route: string, body?: unknown): Promise<Outcome> {
  try {
    const response = await fetch(`${baseUrl}${route}`, {
      method: "POST",
      ...(body !== undefined && { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { kind: "response", status: response.status, body: parsed };
  } catch (error) {
    return { kind: "connection-error", message: error instanceof Error ? error.message : String(error) };
  }
}

async function serverStatus(baseUrl: string): Promise<StatusView> {
  const response = await fetch(`${baseUrl}/api/v1/status`);
  expect(response.status).toBe(200);
  return (await response.json()) as StatusView;
}

const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;

/** VmRSS of `pid` in bytes, read from /proc. */
function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * VmRSS of `pid` once it has stopped moving: sampled every `RSS_SAMPLE_INTERVAL_MILLISECONDS`
 * until the last `RSS_SETTLED_SAMPLES` samples lie within `RSS_SETTLED_SPREAD_BYTES`. Read straight
 * after a burst of requests, a Bun process's RSS still holds garbage its collector frees on its
 * own a moment later (measured: up to +17 MiB, gone within about a second of idling), which is
 * not memory the unload failed to return.
 */
async function settledResidentBytes(pid: number): Promise<number> {
  const samples: number[] = [];
  return waitFor(
    () => {
      samples.push(residentBytes(pid));
      const recent = samples.slice(-RSS_SETTLED_SAMPLES);
      return recent.length === RSS_SETTLED_SAMPLES && Math.max(...recent) - Math.min(...recent) <= RSS_SETTLED_SPREAD_BYTES ? recent.at(-1)! : undefined;
    },
    () => `the RSS of ${pid} to settle: ${samples.map(mebibytes).join(", ")}`,
    { timeoutMilliseconds: POLL_BOUND_MILLISECONDS, intervalMilliseconds: RSS_SAMPLE_INTERVAL_MILLISECONDS },
  );
}

function expectClose(actual: number[], expected: ArrayLike<number>, tolerance: number): void {
  expect(actual).toHaveLength(expected.length);
  let worst = 0;
  for (let index = 0; index < expected.length; index++) worst = Math.max(worst, Math.abs(actual[index]! - expected[index]!));
  expect(worst).toBeLessThanOrEqual(tolerance);
}

let directory: TemporaryDirectory;
let fixtures: FixtureModels;

beforeAll(async () => {
  directory = await temporaryDirectory("modelmora-lifecycle-");
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
});

afterAll(async () => {
  await directory?.[Symbol.asyncDispose]();
});

/** Distinct inputs per request, so an answer given to the wrong request would show. */
function slowInput(request: number): Float32Array {
  return Float32Array.from({ length: 512 }, (_, index) => ((index + request * 37) % 16) / 8);
}

function slowBody(x: Float32Array) {
  return { inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: Array.from(x) }] };
}

/**
 * Registers the slow fixture (one replica, not batchable: dim 0 is fixed at 1) on `server`, sends
 * `count` requests at once and waits until one runs and the rest are queued behind it. Returns
 * the inputs, the pending outcomes and the worker's pid.
 */
async function queueSlowRequests(server: ServerProcess, count: number) {
  const registered = await post(server.baseUrl, "/api/v1/models", { name: "slow", version: "1", task: "tensor", source: fixtures.slow, config: { replicas: 1 } });
  expect(registered).toMatchObject({ kind: "response", status: 201 });
  // Loaded first, so "in flight" means running on the worker, not waiting for the worker to load.
  const loaded = await post(server.baseUrl, "/api/v1/models/slow/load");
  expect(loaded).toMatchObject({ kind: "response", status: 200, body: { state: "ready" } });
  const inputs = Array.from({ length: count }, (_, request) => slowInput(request));
  const outcomes = inputs.map((x) => post(server.baseUrl, "/api/v1/infer/slow", slowBody(x)));
  let status: StatusView | undefined;
  await waitFor(
    async () => {
      status = await serverStatus(server.baseUrl);
      return status.queue.inFlightBatches === 1 && status.queue.queued === count - 1;
    },
    `1 batch in flight and ${count - 1} queued`,
    POLL,
  );
  const worker = status!.models.find((model) => model.name === "slow");
  expect(worker?.pids).toHaveLength(1);
  const workerPid = worker!.pids[0]!;
  expect(processAlive(workerPid)).toBe(true);
  return { inputs, outcomes, workerPid };
}

/** SIGTERMs the server and resolves once its handler has run (new inference is refused from then on). */
async function sendSigterm(server: ServerProcess): Promise<void> {
  server.process.kill("SIGTERM");
  await server.waitForLog((line) => line.event === "shutdown" && line.signal === "SIGTERM");
}

describe("graceful shutdown", () => {
  test("SIGTERM lets the running and queued requests finish, refuses new ones, exits 0 and stops the worker", async () => {
    const dataDir = path.join(directory.path, "drain-data");
    await using database = await testDatabase(dataDir);
    await using server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
    const { inputs, outcomes, workerPid } = await queueSlowRequests(server, 3);
    const children = childPids(server.process.pid);
    expect(children).toContain(workerPid);

    await sendSigterm(server);
    const late = await post(server.baseUrl, "/api/v1/infer/slow", slowBody(slowInput(99)));
    if (late.kind === "response") expect({ status: late.status, code: late.body?.code }).toEqual({ status: 503, code: "SHUTTING_DOWN" });
    else expect(late.kind).toBe("connection-error");
    console.log(`request after SIGTERM: ${late.kind === "response" ? `${late.status} ${late.body?.code}` : `connection error (${late.message})`}`);

    const answered = await Promise.all(outcomes);
    for (const [index, outcome] of answered.entries()) {
      expect(outcome).toMatchObject({ kind: "response", status: 200 });
      if (outcome.kind !== "response") continue;
      expect(outcome.body.outputs[0]).toMatchObject({ name: "y", datatype: "FP32", shape: [1, 512] });
      expectClose(outcome.body.outputs[0].data, referenceSlow(inputs[index]!), FIXTURE_TOLERANCE);
    }

    expect(await server.process.exited).toBe(0);
    expect(server.process.signalCode).toBeNull();
    await waitFor(() => !children.some(processAlive), `the server's children ${children.join(", ")} to exit`, POLL);
    expect(server.logs).toContainEqual(expect.objectContaining({ event: "shutdown_drained", outcome: "drained" }));
  });

  test("when the grace period expires, the server drops what is still queued with SHUTTING_DOWN, exits 0 and leaves no worker", async () => {
    const dataDir = path.join(directory.path, "grace-data");
    await using database = await testDatabase(dataDir);
    await using server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, extraArgs: ["--shutdown-grace-seconds", "1"] });
    // 1 running + 3 queued ≈ 3.2 s of work against a 1 s grace period.
    const { outcomes, workerPid, inputs } = await queueSlowRequests(server, 4);
    const children = childPids(server.process.pid);
    expect(children).toContain(workerPid);

    const signalledAt = performance.now();
    await sendSigterm(server);
    const exitCode = await server.process.exited;
    const exitedAfterMilliseconds = performance.now() - signalledAt;
    expect(exitCode).toBe(0);
    expect(server.process.signalCode).toBeNull();
    expect(exitedAfterMilliseconds).toBeLessThan(SHUTDOWN_BOUND_MILLISECONDS);

    // One worker runs the requests one at a time, so when the grace period ends some have
    // finished (200, correct); the one running when the worker is stopped and those still queued
    // get 503 SHUTTING_DOWN (retryable elsewhere), never a 500. Every client gets an answer.
    const answered = await Promise.all(outcomes);
    const byStatus = new Map<number, number>();
    for (const [index, outcome] of answered.entries()) {
      if (outcome.kind !== "response") throw new Error(`request ${index} got no answer: ${outcome.message}`);
      byStatus.set(outcome.status, (byStatus.get(outcome.status) ?? 0) + 1);
      if (outcome.status === 200) {
        expectClose(outcome.body.outputs[0].data, referenceSlow(inputs[index]!), FIXTURE_TOLERANCE);
      } else {
        expect({ status: outcome.status, code: outcome.body?.code }).toEqual({ status: 503, code: "SHUTTING_DOWN" });
      }
    }
    console.log(`grace expiry: exited ${exitedAfterMilliseconds.toFixed(0)} ms after SIGTERM; answers by status ${JSON.stringify(Object.fromEntries(byStatus))}`);
    expect(byStatus.get(503) ?? 0).toBeGreaterThanOrEqual(2);

    await waitFor(() => !children.some(processAlive), `the server's children ${children.join(", ")} to exit`, POLL);
    expect(server.logs).toContainEqual(expect.objectContaining({ event: "shutdown_drained", outcome: "grace_expired" }));
  });
});

describe("memory", () => {
  test("after unload, the server's RSS plus the workers' is back within 5 MB of what it was before the load", async () => {
    const dataDir = path.join(directory.path, "memory-data");
    await using database = await testDatabase(dataDir);
    // What an unload gives back is measured without the standby worker: a standby process (which
    // the pool restarts a second after each load takes one) would be counted among the server's
    // children, and its start-up in the server's RSS, though it belongs to no model.
    await using server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, extraArgs: ["--standby-workers", "0"] });
    const serverPid = server.process.pid;
    const registered = await post(server.baseUrl, "/api/v1/models", { name: "add", version: "1", task: "tensor", source: fixtures.add });
    expect(registered).toMatchObject({ kind: "response", status: 201 });

    const a = Float32Array.from([1, 2, 3, 4]);
    const b = Float32Array.from([0.5, -0.5, 0.25, -0.25]);
    const expected = referenceAdd(a, b);
    const body = {
      inputs: [
        { name: "a", shape: [1, 4], datatype: "FP32", data: Array.from(a) },
        { name: "b", shape: [1, 4], datatype: "FP32", data: Array.from(b) },
      ],
    };
    /**
     * Loads the worker (first inference), serves the rest, unloads, and waits for the server's RSS
     * to settle. Returns the workers' RSS while loaded and the server's settled RSS after.
     */
    const cycle = async (): Promise<{ workersWhileLoaded: number; settledServer: number }> => {
      for (let request = 0; request < CYCLE_INFERENCES; request++) {
        const outcome = await post(server.baseUrl, "/api/v1/infer/add", body);
        expect(outcome).toMatchObject({ kind: "response", status: 200 });
        if (outcome.kind === "response") expectClose(outcome.body.outputs[0].data, expected, FIXTURE_TOLERANCE);
      }
      const loaded = await serverStatus(server.baseUrl);
      const worker = loaded.models.find((model) => model.name === "add");
      expect(worker?.pids).toHaveLength(1);
      const workerPid = worker!.pids[0]!;
      expect(await post(server.baseUrl, "/api/v1/models/add/unload")).toMatchObject({ kind: "response", status: 200, body: { name: "add", state: "unloaded" } });
      await waitFor(() => !processAlive(workerPid), `worker ${workerPid} to exit`, POLL);
      return { workersWhileLoaded: loaded.memory.workersRssBytes, settledServer: await settledResidentBytes(serverPid) };
    };

    // Warm-up: load/unload cycles create server state that lives as long as the server whether or
    // not a model is loaded (the model's scheduler, JIT-compiled request paths, the worker spawn and
    // IPC machinery, allocator arenas); measuring from before them would count it. One cycle is not
    // enough to reach steady state: with settled RSS read after each cycle, the second cycle still
    // added a one-off ~2.7 MiB (server on PostgreSQL: 69.4 → 72.1 MiB, then 72.0, 72.4, …), so two
    // cycles run before the "before" reading. Each cycle ends with a settled reading, so the idle
    // time lets the collector finish between cycles: run back to back, the reading after the
    // second cycle was sometimes 6 MiB above the floor a third cycle went back to.
    let before = 0;
    for (let warmUp = 0; warmUp < WARM_UP_CYCLES; warmUp++) before = (await cycle()).settledServer;

    const { workersWhileLoaded, settledServer } = await cycle();
    const status = await serverStatus(server.baseUrl);
    expect(status.models).toEqual([]);
    expect(status.memory.workersRssBytes).toBe(0);
    expect(childPids(serverPid)).toEqual([]);
    const after = settledServer + status.memory.workersRssBytes;

    console.log(
      `RSS: server before load ${mebibytes(before)} (${before} B); workers while loaded ${mebibytes(workersWhileLoaded)}; ` +
        `server + workers after unload ${mebibytes(after)} (${after} B); difference ${mebibytes(after - before)} (${after - before} B)`,
    );
    expect(Math.abs(after - before)).toBeLessThanOrEqual(RSS_RETURN_BOUND_BYTES);
  });
});
