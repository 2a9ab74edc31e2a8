/**
 * Pins the worker pool's policy with the outside world injected: a fake `spawnWorker` whose workers
 * load, infer and exit when the test says so, a fake memory probe, a fake checksum check and a fake
 * clock. No processes are started.
 */
import { describe, expect, test } from "bun:test";
import pino from "pino";
import { type ErrorCode, ModelMoraError } from "../../src/errors.ts";
import { type LoadTarget, type PoolDependencies, WorkerPool } from "../../src/lifecycle/pool.ts";
import { type InferResult, type LoadedSignature, type WorkerExit, WorkerGoneError, type WorkerHandle } from "../../src/lifecycle/worker-process.ts";
import { DEFAULT_MODEL_CONFIG } from "../../src/registry/model-config.ts";
import type { LoadMessage, WireTensor } from "../../workers/protocol.ts";
import { systemClock } from "../../src/clock.ts";

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  return { promise, resolve, reject };
}

const SIGNATURE: LoadedSignature = {
  provider: "cpu",
  inputs: [{ name: "x", datatype: "FP32", shape: [-1, 4] }],
  outputs: [{ name: "y", datatype: "FP32", shape: [-1, 4] }],
  loadMilliseconds: 12.5,
  notes: [],
};

/** One batch of one request. */
const INPUTS: WireTensor[][] = [[{ name: "x", datatype: "FP32", shape: [1, 4], data: Float32Array.from([1, 2, 3, 4]) }]];

function resultFor(pid: number): InferResult {
  return { itemOutputs: [[{ name: "y", datatype: "FP32", shape: [1, 1], data: Float32Array.from([pid]) }]], computeMicroseconds: 5 };
}

/** A worker whose load, inferences and exit the test controls. */
class FakeWorker implements WorkerHandle {
  readonly exited: Promise<WorkerExit>;
  readonly loadRequests: Omit<LoadMessage, "type">[] = [];
  readonly inferCalls: { inputs: WireTensor[][]; outputNames: string[] | undefined; reply: Deferred<InferResult> }[] = [];
  terminateCalls = 0;
  private readonly loadReply = deferred<LoadedSignature>();
  private readonly exit = deferred<WorkerExit>();

  constructor(
    readonly pid: number,
    private readonly options: { autoLoad: boolean; autoInfer: boolean },
  ) {
    this.exited = this.exit.promise;
  }

  load(request: Omit<LoadMessage, "type">): Promise<LoadedSignature> {
    this.loadRequests.push(request);
    if (this.options.autoLoad) this.loadReply.resolve(SIGNATURE);
    return this.loadReply.promise;
  }

  infer(inputs: WireTensor[][], outputNames?: string[]): Promise<InferResult> {
    const reply = deferred<InferResult>();
    this.inferCalls.push({ inputs, outputNames, reply });
    if (this.options.autoInfer) reply.resolve(resultFor(this.pid));
    return reply.promise;
  }

  /** Like the real worker: a load still pending fails when the process is stopped. */
  terminate(): Promise<WorkerExit> {
    this.terminateCalls++;
    this.exit.resolve({ exitCode: null, signalCode: "SIGTERM" });
    this.loadReply.reject(new ModelMoraError("MODEL_LOAD_FAILED", "worker process was stopped (unloaded or shutting down) (signal SIGTERM)"));
    return this.exited;
  }

  finishLoad(signature: LoadedSignature = SIGNATURE): void {
    this.loadReply.resolve(signature);
  }

  failLoad(error: unknown): void {
    this.loadReply.reject(error);
  }

  /** The process dies by itself. */
  crash(exitCode = 1): void {
    this.exit.resolve({ exitCode, signalCode: null });
  }
}

const START = Date.parse("2025-01-01T00:00:00.000Z");

interface Harness {
  pool: WorkerPool;
  workers: FakeWorker[];
  /** Resolves with the next worker spawned from now on. */
  nextSpawn: () => Promise<FakeWorker>;
  verifyCalls: [string, string][];
  probeCalls: number[];
  /** Makes the next verifyModelFile call reject with `error`. */
  failNextVerify: (error: unknown) => void;
  advanceMilliseconds: (milliseconds: number) => void;
}

interface FakeTimer {
  delayMilliseconds: number;
  fire: () => void;
  cancelled: boolean;
}

interface HarnessOptions {
  autoLoad?: boolean;
  autoInfer?: boolean;
  rssBytes?: (pid: number) => number | undefined;
  timers?: FakeTimer[];
  pool?: Pick<PoolDependencies, "limits" | "maxConsecutiveLoadFailures" | "restartBackoff" | "capacityWaitMilliseconds">;
}

function harness(options: HarnessOptions = {}): Harness {
  const workers: FakeWorker[] = [];
  const spawnWaiters: Deferred<FakeWorker>[] = [];
  const verifyCalls: [string, string][] = [];
  const probeCalls: number[] = [];
  let verifyFailure: unknown;
  let clockMilliseconds = START;
  const dependencies: PoolDependencies = {
    spawnWorker: () => {
      const worker = new FakeWorker(1000 + workers.length, { autoLoad: options.autoLoad ?? true, autoInfer: options.autoInfer ?? true });
      workers.push(worker);
      for (const waiter of spawnWaiters.splice(0)) waiter.resolve(worker);
      return worker;
    },
    probeMemory: (pid) => {
      probeCalls.push(pid);
      return options.rssBytes ? options.rssBytes(pid) : pid * 1024;
    },
    verifyModelFile: async (path, sha256) => {
      verifyCalls.push([path, sha256]);
      if (verifyFailure !== undefined) {
        const error = verifyFailure;
        verifyFailure = undefined;
        throw error;
      }
    },
    logger: pino({ level: "silent" }),
    // Unless a test says otherwise: no backoff, and the first failed load marks a model unhealthy.
    restartBackoff: { baseMilliseconds: 0, maxMilliseconds: 0 },
    maxConsecutiveLoadFailures: 1,
    ...options.pool,
    // The clock's time is the test's; its timers are the test's when it collects them, else real ones.
    clock: {
      nowMicroseconds: () => clockMilliseconds * 1000,
      setTimer: options.timers
        ? (callback: () => void, delayMicroseconds: number) => {
            const timer: FakeTimer = { delayMilliseconds: delayMicroseconds / 1000, fire: callback, cancelled: false };
            options.timers!.push(timer);
            return () => void (timer.cancelled = true);
          }
        : systemClock.setTimer,
    },
  };
  return {
    pool: new WorkerPool(dependencies),
    workers,
    nextSpawn: () => {
      const waiter = deferred<FakeWorker>();
      spawnWaiters.push(waiter);
      return waiter.promise;
    },
    verifyCalls,
    probeCalls,
    failNextVerify: (error) => {
      verifyFailure = error;
    },
    advanceMilliseconds: (milliseconds) => {
      clockMilliseconds += milliseconds;
    },
  };
}

function target(overrides: Partial<LoadTarget> = {}): LoadTarget {
  return {
    name: "add",
    version: "1",
    modelPath: "/data/models/add/1/model.onnx",
    sha256: "ab".repeat(32),
    sizeBytes: 1_000,
    config: { ...DEFAULT_MODEL_CONFIG, device: "cpu", warmupShapes: { x: [1, 4] } },
    ...overrides,
  };
}

/** Lets queued promise reactions run until `condition` holds (at most 100 turns; no timers involved). */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100 && !condition(); turn++) await Promise.resolve();
  expect(condition()).toBe(true);
}

async function untilInferCalls(worker: FakeWorker, count: number): Promise<void> {
  await until(() => worker.inferCalls.length >= count);
  expect(worker.inferCalls).toHaveLength(count);
}

async function rejectionOf(promise: Promise<unknown>): Promise<ModelMoraError> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ModelMoraError);
  return thrown as ModelMoraError;
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<ModelMoraError> {
  const error = await rejectionOf(promise);
  expect(error.code).toBe(code);
  return error;
}

describe("lazy loading", () => {
  test("nothing is spawned until the first inference", () => {
    const { pool, workers } = harness();
    expect(workers).toHaveLength(0);
    expect(pool.status()).toEqual([]);
    expect(pool.stateOf("add", "1")).toBe("unloaded");
  });

  test("the first inference verifies the file, spawns one worker, loads it and runs on it", async () => {
    const { pool, workers, verifyCalls } = harness();
    const result = await pool.infer(target(), INPUTS, ["y"]);
    expect(verifyCalls).toEqual([["/data/models/add/1/model.onnx", "ab".repeat(32)]]);
    expect(workers).toHaveLength(1);
    const worker = workers[0]!;
    expect(worker.loadRequests).toEqual([
      { modelPath: "/data/models/add/1/model.onnx", device: "cpu", intraOpThreads: 0, healthCheck: true, warmupShapes: { x: [1, 4] } },
    ]);
    expect(worker.inferCalls).toHaveLength(1);
    expect(worker.inferCalls[0]!.inputs).toBe(INPUTS);
    expect(worker.inferCalls[0]!.outputNames).toEqual(["y"]);
    expect(result).toEqual(resultFor(worker.pid));
    expect(pool.stateOf("add", "1")).toBe("ready");
  });

  test("later inferences reuse the loaded worker", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    await pool.infer(target(), INPUTS);
    await pool.infer(target(), INPUTS);
    expect(workers).toHaveLength(1);
    expect(workers[0]!.loadRequests).toHaveLength(1);
    expect(workers[0]!.inferCalls).toHaveLength(3);
  });

  test("each version of a model gets its own worker", async () => {
    const { pool, workers } = harness();
    await pool.infer(target({ version: "1" }), INPUTS);
    await pool.infer(target({ version: "2" }), INPUTS);
    expect(workers).toHaveLength(2);
    expect(pool.status().map((status) => [status.version, status.pid])).toEqual([
      ["1", workers[0]!.pid],
      ["2", workers[1]!.pid],
    ]);
  });
});

describe("concurrent requests during a load", () => {
  test("share one spawn and one load, and all run once it is ready", async () => {
    const { pool, workers, nextSpawn, verifyCalls } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const inferences = [pool.infer(target(), INPUTS), pool.infer(target(), INPUTS), pool.infer(target(), INPUTS)];
    const worker = await spawned;
    await until(() => worker.loadRequests.length === 1);
    expect(pool.stateOf("add", "1")).toBe("loading");
    const loading = pool.status()[0]!;
    expect(loading.state).toBe("loading");
    expect(loading.pid).toBe(worker.pid);

    worker.finishLoad();
    const results = await Promise.all(inferences);
    expect(workers).toHaveLength(1);
    expect(verifyCalls).toHaveLength(1);
    expect(worker.loadRequests).toHaveLength(1);
    expect(worker.inferCalls).toHaveLength(3);
    expect(results).toEqual([resultFor(worker.pid), resultFor(worker.pid), resultFor(worker.pid)]);
  });

  test("an explicit load during a lazy load joins it instead of spawning again", async () => {
    const { pool, workers, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const inference = pool.infer(target(), INPUTS);
    const loaded = pool.load(target());
    (await spawned).finishLoad();
    await inference;
    expect((await loaded).state).toBe("ready");
    expect(workers).toHaveLength(1);
  });

  test("all requests waiting on a failing load get its error", async () => {
    const { pool, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const inferences = [pool.infer(target(), INPUTS), pool.infer(target(), INPUTS)];
    (await spawned).failLoad(new ModelMoraError("MODEL_LOAD_FAILED", "model failed to load: bad graph"));
    for (const inference of inferences) expect((await expectCode(inference, "MODEL_LOAD_FAILED")).message).toContain("bad graph");
  });
});

describe("a failed load marks the model unhealthy", () => {
  test("the first request gets MODEL_LOAD_FAILED and the worker is terminated", async () => {
    const { pool, workers, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const inference = pool.infer(target(), INPUTS);
    (await spawned).failLoad(new ModelMoraError("MODEL_LOAD_FAILED", "model failed to load: bad graph"));
    await expectCode(inference, "MODEL_LOAD_FAILED");
    expect(workers[0]!.terminateCalls).toBe(1);
    expect(pool.stateOf("add", "1")).toBe("unhealthy");
    const [status] = pool.status();
    expect(status).toMatchObject({ state: "unhealthy", pid: null, rssBytes: null, loads: 0 });
    expect(status!.lastError).toContain("bad graph");
  });

  test("a load failure that is not a ModelMoraError is reported as MODEL_LOAD_FAILED", async () => {
    const { pool, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const inference = pool.infer(target(), INPUTS);
    (await spawned).failLoad(new Error("IPC channel closed"));
    expect((await expectCode(inference, "MODEL_LOAD_FAILED")).message).toContain("IPC channel closed");
  });

  test("a worker that crashes during load fails the load as MODEL_LOAD_FAILED, not as an inference error", async () => {
    const { pool, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const inference = pool.infer(target(), INPUTS);
    (await spawned).failLoad(new ModelMoraError("INFERENCE_FAILED", "worker process exited unexpectedly (exit code 1)"));
    await expectCode(inference, "MODEL_LOAD_FAILED");
    expect(pool.stateOf("add", "1")).toBe("unhealthy");
  });

  test("the next request gets UNHEALTHY_MODEL without spawning", async () => {
    const { pool, workers, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const first = pool.infer(target(), INPUTS);
    (await spawned).failLoad(new ModelMoraError("MODEL_LOAD_FAILED", "model failed to load: bad graph"));
    await expectCode(first, "MODEL_LOAD_FAILED");

    const error = await expectCode(pool.infer(target(), INPUTS), "UNHEALTHY_MODEL");
    expect(error.message).toContain("bad graph");
    expect(error.details).toEqual({ name: "add", version: "1" });
    expect(workers).toHaveLength(1);
  });

  test("an explicit load clears the mark and spawns a fresh worker", async () => {
    const { pool, workers, nextSpawn } = harness({ autoLoad: false });
    const firstSpawn = nextSpawn();
    const first = pool.infer(target(), INPUTS);
    (await firstSpawn).failLoad(new ModelMoraError("MODEL_LOAD_FAILED", "model failed to load: bad graph"));
    await expectCode(first, "MODEL_LOAD_FAILED");

    const secondSpawn = nextSpawn();
    const loaded = pool.load(target());
    const second = await secondSpawn;
    second.finishLoad();
    const status = await loaded;
    expect(workers).toHaveLength(2);
    expect(status).toMatchObject({ state: "ready", pid: second.pid, loads: 1, lastError: null });
    expect(await pool.infer(target(), INPUTS)).toEqual(resultFor(second.pid));
  });

  test("unloading an unhealthy model clears the mark, so the next request loads again", async () => {
    const { pool, workers, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const first = pool.infer(target(), INPUTS);
    (await spawned).failLoad(new ModelMoraError("MODEL_LOAD_FAILED", "bad graph"));
    await expectCode(first, "MODEL_LOAD_FAILED");
    await pool.unload("add");
    expect(pool.stateOf("add", "1")).toBe("unloaded");

    const respawned = nextSpawn();
    const second = pool.infer(target(), INPUTS);
    (await respawned).finishLoad();
    await second;
    expect(workers).toHaveLength(2);
  });
});

describe("checksum verification", () => {
  test("a file that no longer matches its checksum is never spawned", async () => {
    const { pool, workers, failNextVerify } = harness();
    failNextVerify(new ModelMoraError("CHECKSUM_MISMATCH", "model file hash changed", { expected: "ab".repeat(32) }));
    await expectCode(pool.infer(target(), INPUTS), "CHECKSUM_MISMATCH");
    expect(workers).toHaveLength(0);
    expect(pool.stateOf("add", "1")).toBe("unhealthy");
    await expectCode(pool.infer(target(), INPUTS), "UNHEALTHY_MODEL");
    expect(workers).toHaveLength(0);
  });

  test("an explicit load verifies again and spawns once the file matches", async () => {
    const { pool, workers, failNextVerify, verifyCalls } = harness();
    failNextVerify(new ModelMoraError("CHECKSUM_MISMATCH", "model file hash changed"));
    await expectCode(pool.load(target()), "CHECKSUM_MISMATCH");
    expect((await pool.load(target())).state).toBe("ready");
    expect(verifyCalls).toHaveLength(2);
    expect(workers).toHaveLength(1);
  });
});

describe("a worker that exits by itself", () => {
  test("is forgotten while ready, and the next request spawns a new one", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    const first = workers[0]!;
    first.crash(137);
    await first.exited;
    expect(pool.stateOf("add", "1")).toBe("unloaded");
    expect(pool.status()).toEqual([]);

    const result = await pool.infer(target(), INPUTS);
    expect(workers).toHaveLength(2);
    expect(result).toEqual(resultFor(workers[1]!.pid));
    expect(pool.status()[0]).toMatchObject({ state: "ready", pid: workers[1]!.pid });
  });

  test("an old worker's exit does not forget its replacement", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    const first = workers[0]!;
    first.crash();
    await first.exited;
    await pool.infer(target(), INPUTS);
    first.crash(); // a second exit report from the first process changes nothing
    await first.exited;
    expect(pool.stateOf("add", "1")).toBe("ready");
    expect(pool.status()[0]!.pid).toBe(workers[1]!.pid);
  });
});

describe("a worker found dead before a request is sent", () => {
  test("is forgotten and the request runs on a fresh worker instead of failing", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    const dead = workers[0]!;
    dead.infer = () => Promise.reject(new WorkerGoneError(dead.pid));
    const result = await pool.infer(target(), INPUTS);
    expect(workers).toHaveLength(2);
    expect(result).toEqual(resultFor(workers[1]!.pid));
    expect(pool.status()[0]).toMatchObject({ state: "ready", pid: workers[1]!.pid });
  });

  test("is retried once only: a second gone worker fails the request", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    workers[0]!.infer = () => Promise.reject(new WorkerGoneError(workers[0]!.pid));
    const spawned = pool.infer(target(), INPUTS);
    await until(() => workers.length === 2);
    workers[1]!.infer = () => Promise.reject(new WorkerGoneError(workers[1]!.pid));
    await expectCode(spawned, "INFERENCE_FAILED");
  });

  test("does not forget a replacement another request already spawned", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    const dead = workers[0]!;
    dead.crash();
    await dead.exited;
    await pool.infer(target(), INPUTS);
    // A late WorkerGoneError naming the old pid must leave the new worker in place.
    const replacement = workers[1]!;
    const original = replacement.infer.bind(replacement);
    let first = true;
    replacement.infer = (inputs, outputNames) => {
      if (!first) return original(inputs, outputNames);
      first = false;
      return Promise.reject(new WorkerGoneError(dead.pid));
    };
    await pool.infer(target(), INPUTS);
    expect(workers).toHaveLength(2);
    expect(pool.status()[0]!.pid).toBe(replacement.pid);
  });
});

describe("keep-alive", () => {
  const live = (timers: FakeTimer[]) => timers.filter((timer) => !timer.cancelled);
  /** Fires the one pending timer, as the runtime would once its delay has passed. */
  const fireOnly = (timers: FakeTimer[]) => {
    const pending = live(timers);
    expect(pending).toHaveLength(1);
    pending[0]!.cancelled = true;
    pending[0]!.fire();
    return pending[0]!;
  };

  test("an idle model is unloaded keepAliveSeconds after its last use, through the same path as unload", async () => {
    const timers: FakeTimer[] = [];
    const { pool, workers, advanceMilliseconds } = harness({ timers });
    await pool.infer(target({ config: { ...DEFAULT_MODEL_CONFIG, keepAliveSeconds: 30 } }), INPUTS);
    expect(live(timers)[0]!.delayMilliseconds).toBe(30_000);
    advanceMilliseconds(30_000);
    fireOnly(timers);
    await until(() => workers[0]!.terminateCalls === 1);
    expect(pool.stateOf("add", "1")).toBe("unloaded");
  });

  test("use during the keep-alive postpones expiry to keepAliveSeconds after that use, with one timer", async () => {
    const timers: FakeTimer[] = [];
    const { pool, workers, advanceMilliseconds } = harness({ timers });
    const config = { ...DEFAULT_MODEL_CONFIG, keepAliveSeconds: 30 };
    await pool.infer(target({ config }), INPUTS);
    advanceMilliseconds(20_000);
    await pool.infer(target({ config }), INPUTS);
    await pool.infer(target({ config }), INPUTS);
    expect(timers).toHaveLength(1);
    advanceMilliseconds(10_000);
    fireOnly(timers);
    expect(workers[0]!.terminateCalls).toBe(0);
    expect(live(timers)[0]!.delayMilliseconds).toBe(20_000);
    advanceMilliseconds(20_000);
    fireOnly(timers);
    await until(() => workers[0]!.terminateCalls === 1);
  });

  test("a model with work in flight is never expired; the keep-alive counts from when it finishes", async () => {
    const timers: FakeTimer[] = [];
    const { pool, nextSpawn, advanceMilliseconds } = harness({ timers, autoInfer: false });
    const config = { ...DEFAULT_MODEL_CONFIG, keepAliveSeconds: 5 };
    const spawned = nextSpawn();
    const running = pool.infer(target({ config }), INPUTS);
    const worker = await spawned;
    await untilInferCalls(worker, 1);
    advanceMilliseconds(60_000);
    fireOnly(timers); // the timer armed at load fires while the request runs
    expect(worker.terminateCalls).toBe(0);
    expect(live(timers)).toHaveLength(0);
    worker.inferCalls[0]!.reply.resolve(resultFor(worker.pid));
    await running;
    expect(live(timers)[0]!.delayMilliseconds).toBe(5_000);
  });

  test("keepAliveSeconds 0 unloads as soon as the model is idle", async () => {
    const timers: FakeTimer[] = [];
    const { pool, workers } = harness({ timers });
    await pool.infer(target({ config: { ...DEFAULT_MODEL_CONFIG, keepAliveSeconds: 0 } }), INPUTS);
    expect(fireOnly(timers).delayMilliseconds).toBe(0);
    await until(() => workers[0]!.terminateCalls === 1);
  });

  test("keepAliveSeconds -1 keeps the model loaded forever", async () => {
    const timers: FakeTimer[] = [];
    const { pool } = harness({ timers });
    await pool.infer(target({ config: { ...DEFAULT_MODEL_CONFIG, keepAliveSeconds: -1 } }), INPUTS);
    expect(live(timers)).toHaveLength(0);
    expect(pool.stateOf("add", "1")).toBe("ready");
  });
});

describe("unload", () => {
  test("terminates the worker and the model becomes unloaded", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    await pool.unload("add", "1");
    expect(workers[0]!.terminateCalls).toBe(1);
    expect(pool.stateOf("add", "1")).toBe("unloaded");
    expect(pool.status()).toEqual([]);
  });

  test("the next request after an unload spawns a new worker", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    await pool.unload("add", "1");
    await pool.infer(target(), INPUTS);
    expect(workers).toHaveLength(2);
  });

  test("without a version it stops every version of that model and no other model", async () => {
    const { pool, workers } = harness();
    await pool.infer(target({ version: "1" }), INPUTS);
    await pool.infer(target({ version: "2" }), INPUTS);
    await pool.infer(target({ name: "other" }), INPUTS);
    await pool.unload("add");
    expect(workers.map((worker) => worker.terminateCalls)).toEqual([1, 1, 0]);
    expect(pool.status().map((status) => status.name)).toEqual(["other"]);
  });

  test("with a version it stops only that version", async () => {
    const { pool, workers } = harness();
    await pool.infer(target({ version: "1" }), INPUTS);
    await pool.infer(target({ version: "2" }), INPUTS);
    await pool.unload("add", "2");
    expect(workers.map((worker) => worker.terminateCalls)).toEqual([0, 1]);
    expect(pool.stateOf("add", "1")).toBe("ready");
    expect(pool.stateOf("add", "2")).toBe("unloaded");
  });

  test("during a load waits for it, then terminates the loaded worker", async () => {
    const { pool, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const inference = pool.infer(target(), INPUTS);
    const worker = await spawned;
    const unloading = pool.unload("add", "1");
    worker.finishLoad();
    await unloading;
    await inference.catch(() => undefined);
    expect(worker.terminateCalls).toBe(1);
    expect(pool.stateOf("add", "1")).toBe("unloaded");
  });

  test("of a model that is not loaded does nothing", async () => {
    const { pool } = harness();
    await pool.unload("missing");
    expect(pool.status()).toEqual([]);
  });
});

describe("status", () => {
  test("reports pid, rss from the probe, provider, load time and counters of a loaded worker", async () => {
    const { pool, workers, probeCalls } = harness({ rssBytes: () => 123_456_789 });
    await pool.load(target());
    const worker = workers[0]!;
    expect(pool.status()).toEqual([
      {
        name: "add",
        version: "1",
        state: "ready",
        pid: worker.pid,
        pids: [worker.pid],
        rssBytes: 123_456_789,
        provider: "cpu",
        loadedAt: "2025-01-01T00:00:00.000Z",
        lastUsedAt: null,
        inFlight: 0,
        replicaInFlight: [0],
        loads: 1,
        evictions: 0,
        restarts: 0,
        consecutiveLoadFailures: 0,
        lastError: null,
      },
    ]);
    expect(probeCalls).toContain(worker.pid);
  });

  test("reports the provider the worker actually chose", async () => {
    const { pool, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const loaded = pool.load(target({ config: { ...DEFAULT_MODEL_CONFIG, device: "auto" } }));
    (await spawned).finishLoad({ ...SIGNATURE, provider: "cuda" });
    expect((await loaded).provider).toBe("cuda");
  });

  test("rssBytes is null when the probe cannot read the process", async () => {
    const { pool } = harness({ rssBytes: () => undefined });
    await pool.load(target());
    expect(pool.status()[0]!.rssBytes).toBeNull();
  });

  test("counts in-flight inferences and stamps lastUsedAt from the clock at start and at finish", async () => {
    const { pool, workers, advanceMilliseconds } = harness({ autoInfer: false });
    await pool.load(target());
    advanceMilliseconds(5_000);
    const first = pool.infer(target(), INPUTS);
    const second = pool.infer(target(), INPUTS);
    const worker = workers[0]!;
    await untilInferCalls(worker, 2);

    expect(pool.status()[0]).toMatchObject({ inFlight: 2, lastUsedAt: "2025-01-01T00:00:05.000Z", loadedAt: "2025-01-01T00:00:00.000Z" });

    advanceMilliseconds(1_500);
    worker.inferCalls[0]!.reply.resolve(resultFor(worker.pid));
    await first;
    expect(pool.status()[0]).toMatchObject({ inFlight: 1, lastUsedAt: "2025-01-01T00:00:06.500Z" });

    advanceMilliseconds(500);
    worker.inferCalls[1]!.reply.reject(new ModelMoraError("INFERENCE_FAILED", "inference failed: boom"));
    await expectCode(second, "INFERENCE_FAILED");
    expect(pool.status()[0]).toMatchObject({ state: "ready", inFlight: 0, lastUsedAt: "2025-01-01T00:00:07.000Z" });
  });

  test("a failed inference leaves the model ready for the next request", async () => {
    const { pool, workers } = harness({ autoInfer: false });
    await pool.load(target());
    const failing = pool.infer(target(), INPUTS);
    const worker = workers[0]!;
    await untilInferCalls(worker, 1);
    worker.inferCalls[0]!.reply.reject(new ModelMoraError("INVALID_INPUT", "inference failed: bad shape"));
    await expectCode(failing, "INVALID_INPUT");
    expect(pool.stateOf("add", "1")).toBe("ready");
    expect(workers).toHaveLength(1);
  });

  test("an explicit load of a ready model reports it without spawning again", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    const status = await pool.load(target());
    expect(status).toMatchObject({ state: "ready", pid: workers[0]!.pid, loads: 1 });
    expect(workers).toHaveLength(1);
  });
});

describe("close", () => {
  test("terminates every worker and empties the pool", async () => {
    const { pool, workers } = harness();
    await pool.infer(target({ name: "a" }), INPUTS);
    await pool.infer(target({ name: "b" }), INPUTS);
    await pool.close();
    expect(workers.map((worker) => worker.terminateCalls)).toEqual([1, 1]);
    expect(pool.status()).toEqual([]);
  });

  test("later inferences and loads fail with SHUTTING_DOWN without spawning", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    await pool.close();
    await expectCode(pool.infer(target(), INPUTS), "SHUTTING_DOWN");
    await expectCode(pool.infer(target({ name: "never-loaded" }), INPUTS), "SHUTTING_DOWN");
    await expectCode(pool.load(target()), "SHUTTING_DOWN");
    expect(workers).toHaveLength(1);
  });

  test("cuts a load in progress short: its worker is stopped at once and the waiting callers get SHUTTING_DOWN", async () => {
    const { pool, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const loading = pool.load(target());
    const waiting = pool.infer(target(), INPUTS);
    const worker = await spawned;
    await pool.close();
    expect(worker.terminateCalls).toBeGreaterThanOrEqual(1);
    expect(worker.inferCalls).toHaveLength(0);
    await expectCode(loading, "SHUTTING_DOWN");
    await expectCode(waiting, "SHUTTING_DOWN");
    expect(pool.status()).toEqual([]);
  });

  test("a request running when close() stops its worker gets SHUTTING_DOWN, not INFERENCE_FAILED", async () => {
    const { pool, workers } = harness({ autoInfer: false });
    await pool.load(target());
    const running = pool.infer(target(), INPUTS);
    await untilInferCalls(workers[0]!, 1);
    const closing = pool.close();
    workers[0]!.inferCalls[0]!.reply.reject(new ModelMoraError("INFERENCE_FAILED", "worker process was stopped (unloaded or shutting down) (signal SIGTERM)"));
    await closing;
    await expectCode(running, "SHUTTING_DOWN");
  });
});

describe("memory budget and the loaded-models cap", () => {
  const MB = 1024 * 1024;
  /** Every fake worker measures 100 MB. */
  const hundredMegabytes = () => 100 * MB;
  const budget = (megabytes: number) => ({ limits: { memoryLimitBytes: megabytes * MB } });

  test("a load that would exceed the budget first evicts the least recently used idle model, and waits for it to exit", async () => {
    const { pool, workers, advanceMilliseconds } = harness({ rssBytes: hundredMegabytes, pool: budget(250) });
    await pool.infer(target({ name: "a" }), INPUTS);
    advanceMilliseconds(1_000);
    await pool.infer(target({ name: "b" }), INPUTS);
    advanceMilliseconds(1_000);
    await pool.infer(target({ name: "a" }), INPUTS); // a is now the most recently used

    await pool.infer(target({ name: "c", config: { ...DEFAULT_MODEL_CONFIG, memoryMb: 100 } }), INPUTS);
    expect(workers.map((worker) => worker.terminateCalls)).toEqual([0, 1, 0]);
    expect(pool.status().map((status) => status.name).sort()).toEqual(["a", "c"]);
    expect(pool.statusOf("b", "1")).toMatchObject({ state: "unloaded", evictions: 1, loads: 1 });
  });

  test("the evicted worker has exited before the new one is spawned", async () => {
    const { pool, workers, nextSpawn } = harness({ rssBytes: hundredMegabytes, pool: budget(150) });
    await pool.infer(target({ name: "a" }), INPUTS);
    const old = workers[0]!;
    let exitBeforeSpawn = false;
    const spawned = nextSpawn().then(() => (exitBeforeSpawn = old.terminateCalls === 1));
    await pool.infer(target({ name: "b", config: { ...DEFAULT_MODEL_CONFIG, memoryMb: 100 } }), INPUTS);
    await spawned;
    expect(exitBeforeSpawn).toBe(true);
  });

  test("an estimate that was too low is corrected once the new worker is measured", async () => {
    const { pool, workers, advanceMilliseconds } = harness({ rssBytes: hundredMegabytes, pool: budget(250) });
    await pool.infer(target({ name: "a" }), INPUTS);
    advanceMilliseconds(1_000);
    await pool.infer(target({ name: "b" }), INPUTS);
    // c's file is tiny (estimate 1.5 kB), so it is admitted without evicting; measured, it is 100 MB.
    await pool.infer(target({ name: "c" }), INPUTS);
    await until(() => workers[0]!.terminateCalls === 1);
    expect(pool.status().map((status) => status.name).sort()).toEqual(["b", "c"]);
    expect(pool.statusOf("a", "1").evictions).toBe(1);
  });

  test("a model with work in flight is never evicted; an idle one that was used later is", async () => {
    const { pool, workers, advanceMilliseconds } = harness({ rssBytes: hundredMegabytes, autoInfer: false, pool: budget(250) });
    const busy = pool.infer(target({ name: "busy" }), INPUTS);
    await until(() => workers[0]?.inferCalls.length === 1);
    advanceMilliseconds(1_000);
    const idle = pool.infer(target({ name: "idle" }), INPUTS);
    await until(() => workers[1]?.inferCalls.length === 1);
    workers[1]!.inferCalls[0]!.reply.resolve(resultFor(workers[1]!.pid));
    await idle;

    const incoming = pool.infer(target({ name: "c", config: { ...DEFAULT_MODEL_CONFIG, memoryMb: 100 } }), INPUTS);
    await until(() => workers.length === 3);
    expect(workers.map((worker) => worker.terminateCalls)).toEqual([0, 1, 0]);
    workers[2]!.inferCalls[0]?.reply.resolve(resultFor(workers[2]!.pid));
    await until(() => workers[2]!.inferCalls.length === 1);
    workers[2]!.inferCalls[0]!.reply.resolve(resultFor(workers[2]!.pid));
    await incoming;
    workers[0]!.inferCalls[0]!.reply.resolve(resultFor(workers[0]!.pid));
    await busy;
  });

  test("when every loaded model is busy the load waits, and goes ahead as soon as one is idle", async () => {
    const { pool, workers } = harness({ rssBytes: hundredMegabytes, autoInfer: false, pool: budget(150) });
    const busy = pool.infer(target({ name: "a" }), INPUTS);
    await until(() => workers[0]?.inferCalls.length === 1);
    const waiting = pool.infer(target({ name: "b", config: { ...DEFAULT_MODEL_CONFIG, memoryMb: 100 } }), INPUTS);
    for (let turn = 0; turn < 20; turn++) await Promise.resolve();
    expect(workers).toHaveLength(1);
    expect(pool.stateOf("b", "1")).toBe("unloaded");

    workers[0]!.inferCalls[0]!.reply.resolve(resultFor(workers[0]!.pid));
    await busy;
    await until(() => workers.length === 2 && workers[1]!.inferCalls.length === 1);
    expect(workers[0]!.terminateCalls).toBe(1);
    workers[1]!.inferCalls[0]!.reply.resolve(resultFor(workers[1]!.pid));
    expect(await waiting).toEqual(resultFor(workers[1]!.pid));
  });

  test("the wait is bounded by the request's deadline, then INSUFFICIENT_MEMORY", async () => {
    const timers: FakeTimer[] = [];
    const { pool, workers, advanceMilliseconds } = harness({ rssBytes: hundredMegabytes, autoInfer: false, timers, pool: budget(150) });
    const busy = pool.infer(target({ name: "a", config: { ...DEFAULT_MODEL_CONFIG, keepAliveSeconds: -1 } }), INPUTS);
    await until(() => workers[0]?.inferCalls.length === 1);
    const waiting = pool.infer(target({ name: "b", config: { ...DEFAULT_MODEL_CONFIG, memoryMb: 100 } }), INPUTS, undefined, {
      deadlineAtMilliseconds: START + 2_500,
    });
    await until(() => timers.some((timer) => !timer.cancelled));
    const wait = timers.find((timer) => !timer.cancelled)!;
    expect(wait.delayMilliseconds).toBe(2_500);
    advanceMilliseconds(2_500);
    wait.fire();
    const error = await expectCode(waiting, "INSUFFICIENT_MEMORY");
    expect(error.message).toContain("busy");
    expect(error.details).toEqual({ name: "b", version: "1" });
    expect(workers).toHaveLength(1);
    workers[0]!.inferCalls[0]!.reply.resolve(resultFor(workers[0]!.pid));
    await busy;
  });

  test("a model larger than the whole budget fails at once with INSUFFICIENT_MEMORY", async () => {
    const { pool, workers } = harness({ pool: budget(100) });
    const error = await expectCode(pool.infer(target({ config: { ...DEFAULT_MODEL_CONFIG, memoryMb: 200 } }), INPUTS), "INSUFFICIENT_MEMORY");
    expect(error.message).toContain("200.0 MB but the memory limit is 100.0 MB");
    expect(workers).toHaveLength(0);
  });

  test("the estimate before the first load is 1.5× the file size per replica", async () => {
    const { pool, workers } = harness({ pool: budget(100) });
    // 2 replicas × 1.5 × 40 MB = 120 MB > 100 MB.
    await expectCode(pool.infer(target({ sizeBytes: 40 * MB, config: { ...DEFAULT_MODEL_CONFIG, replicas: 2 } }), INPUTS), "INSUFFICIENT_MEMORY");
    // 1 replica × 1.5 × 40 MB = 60 MB fits.
    await pool.infer(target({ sizeBytes: 40 * MB }), INPUTS);
    expect(workers).toHaveLength(1);
  });

  test("maxLoadedModels evicts the least recently used idle model", async () => {
    const { pool, workers, advanceMilliseconds } = harness({ pool: { limits: { maxLoadedModels: 2 } } });
    await pool.infer(target({ name: "a" }), INPUTS);
    advanceMilliseconds(1_000);
    await pool.infer(target({ name: "b" }), INPUTS);
    advanceMilliseconds(1_000);
    await pool.infer(target({ name: "c" }), INPUTS);
    expect(workers.map((worker) => worker.terminateCalls)).toEqual([1, 0, 0]);
    expect(pool.status().map((status) => status.name).sort()).toEqual(["b", "c"]);
  });

  test("two versions of one model count as two loaded models", async () => {
    const { pool } = harness({ pool: { limits: { maxLoadedModels: 2 } } });
    await pool.infer(target({ version: "1" }), INPUTS);
    await pool.infer(target({ version: "2" }), INPUTS);
    expect(pool.status().map((status) => `${status.name}@${status.version}:${status.state}`)).toEqual(["add@1:ready", "add@2:ready"]);
  });
});

describe("repeated load failures", () => {
  const failing = { maxConsecutiveLoadFailures: 3, restartBackoff: { baseMilliseconds: 1_000, maxMilliseconds: 30_000 } };

  test("the model is retried with exponential backoff and marked unhealthy after N failures in a row", async () => {
    const timers: FakeTimer[] = [];
    const { pool, workers, nextSpawn, advanceMilliseconds } = harness({ autoLoad: false, timers, pool: failing });
    const fail = async (spawned: Promise<FakeWorker>) => (await spawned).failLoad(new ModelMoraError("MODEL_LOAD_FAILED", "bad graph"));

    let spawned = nextSpawn();
    let request = pool.infer(target(), INPUTS);
    await fail(spawned);
    await expectCode(request, "MODEL_LOAD_FAILED");
    expect(pool.stateOf("add", "1")).toBe("unloaded"); // not unhealthy yet: the next request tries again
    expect(pool.statusOf("add", "1")).toMatchObject({ consecutiveLoadFailures: 1, lastError: "bad graph" });

    spawned = nextSpawn(); // the first failure is retried at once
    request = pool.infer(target(), INPUTS);
    await fail(spawned);
    await expectCode(request, "MODEL_LOAD_FAILED");
    expect(workers).toHaveLength(2);

    request = pool.infer(target(), INPUTS); // after two failures: wait 1 s before spawning
    await until(() => timers.some((timer) => !timer.cancelled));
    const backoff = timers.find((timer) => !timer.cancelled)!;
    expect(backoff.delayMilliseconds).toBe(1_000);
    expect(workers).toHaveLength(2);
    spawned = nextSpawn();
    advanceMilliseconds(1_000);
    backoff.cancelled = true;
    backoff.fire();
    await fail(spawned);
    await expectCode(request, "MODEL_LOAD_FAILED");
    expect(pool.stateOf("add", "1")).toBe("unhealthy");

    await expectCode(pool.infer(target(), INPUTS), "UNHEALTHY_MODEL");
    expect(workers).toHaveLength(3);
    expect(workers.every((worker) => worker.terminateCalls === 1)).toBe(true);
  });

  test("an explicit load after failures starts at once and resets the count", async () => {
    const { pool, workers, nextSpawn } = harness({ autoLoad: false, pool: failing });
    for (let attempt = 0; attempt < 2; attempt++) {
      const spawned = nextSpawn();
      const request = pool.infer(target(), INPUTS);
      (await spawned).failLoad(new ModelMoraError("MODEL_LOAD_FAILED", "bad graph"));
      await expectCode(request, "MODEL_LOAD_FAILED");
    }
    const spawned = nextSpawn();
    const loading = pool.load(target());
    (await spawned).finishLoad();
    expect(await loading).toMatchObject({ state: "ready", consecutiveLoadFailures: 0, lastError: null });
    expect(workers).toHaveLength(3);
  });

  test("other models are unaffected by one model's failures", async () => {
    const { pool, workers, nextSpawn } = harness({ autoLoad: false });
    const spawned = nextSpawn();
    const broken = pool.infer(target({ name: "broken" }), INPUTS);
    (await spawned).failLoad(new ModelMoraError("MODEL_LOAD_FAILED", "bad graph"));
    await expectCode(broken, "MODEL_LOAD_FAILED");
    const healthySpawn = nextSpawn();
    const healthy = pool.infer(target({ name: "healthy" }), INPUTS);
    (await healthySpawn).finishLoad();
    expect(await healthy).toEqual(resultFor(workers[1]!.pid));
  });
});

describe("restarts after crashes", () => {
  test("a crash is counted as a restart when the replacement loads", async () => {
    const { pool, workers } = harness();
    await pool.infer(target(), INPUTS);
    workers[0]!.crash(139);
    await workers[0]!.exited;
    expect(pool.statusOf("add", "1")).toMatchObject({ state: "unloaded", restarts: 0, lastError: `worker ${workers[0]!.pid} exited unexpectedly (exit code 139)` });
    await pool.infer(target(), INPUTS);
    expect(pool.status()[0]).toMatchObject({ state: "ready", loads: 2, restarts: 1 });
  });

  test("crashes in a row back off before the next start; a successful inference resets the count", async () => {
    const timers: FakeTimer[] = [];
    const { pool, workers, nextSpawn, advanceMilliseconds } = harness({ timers, pool: { restartBackoff: { baseMilliseconds: 500, maxMilliseconds: 10_000 } } });
    const config = { ...DEFAULT_MODEL_CONFIG, keepAliveSeconds: -1 };
    await pool.infer(target({ config }), INPUTS);
    workers[0]!.crash();
    await workers[0]!.exited;
    await pool.infer(target({ config }), INPUTS); // one crash: restarted at once
    expect(live(timers)).toHaveLength(0);
    expect(workers).toHaveLength(2);

    workers[1]!.crash();
    await workers[1]!.exited;
    await pool.infer(target({ config }), INPUTS); // success reset the count: at once again
    expect(live(timers)).toHaveLength(0);
    expect(workers).toHaveLength(3);

    // Two crashes with no success between them: the restart waits 500 ms.
    workers[2]!.crash();
    await workers[2]!.exited;
    const spawned = nextSpawn();
    const crashing = pool.infer(target({ config }), INPUTS);
    const doomed = await spawned;
    doomed.infer = () => {
      doomed.crash();
      return Promise.reject(new ModelMoraError("INFERENCE_FAILED", "worker process exited unexpectedly (signal SIGSEGV)"));
    };
    await expectCode(crashing, "INFERENCE_FAILED");
    await doomed.exited;
    const delayed = pool.infer(target({ config }), INPUTS);
    await until(() => live(timers).length === 1);
    expect(live(timers)[0]!.delayMilliseconds).toBe(500);
    expect(workers).toHaveLength(4);
    advanceMilliseconds(500);
    const timer = live(timers)[0]!;
    timer.cancelled = true;
    timer.fire();
    await delayed;
    expect(workers).toHaveLength(5);
  });

  test("a lost replica is replaced in the background while the other keeps serving", async () => {
    const { pool, workers, nextSpawn } = harness({ autoLoad: false });
    const config = { ...DEFAULT_MODEL_CONFIG, replicas: 2 };
    const first = nextSpawn();
    const loading = pool.load(target({ config }));
    (await first).finishLoad();
    await until(() => workers.length === 2);
    workers[1]!.finishLoad();
    await loading;

    workers[0]!.crash();
    await workers[0]!.exited;
    expect(pool.status()[0]!.pids).toEqual([workers[1]!.pid]);

    const replacement = nextSpawn();
    const served = await pool.infer(target({ config }), INPUTS);
    expect(served).toEqual(resultFor(workers[1]!.pid)); // not sent to the replacement still loading
    (await replacement).finishLoad();
    await until(() => pool.status()[0]!.pids.length === 2);
    expect(pool.status()[0]).toMatchObject({ pids: [workers[1]!.pid, workers[2]!.pid], restarts: 1 });
  });
});

describe("per-request keep-alive", () => {
  test("a request's keepAliveSeconds replaces the model's from then on", async () => {
    const timers: FakeTimer[] = [];
    const { pool, workers } = harness({ timers });
    const config = { ...DEFAULT_MODEL_CONFIG, keepAliveSeconds: 300 };
    await pool.infer(target({ config }), INPUTS);
    expect(live(timers).map((timer) => timer.delayMilliseconds)).toEqual([300_000]);
    await pool.infer(target({ config }), INPUTS, undefined, { keepAliveSeconds: 0 });
    expect(live(timers).map((timer) => timer.delayMilliseconds)).toEqual([0]);
    const timer = live(timers)[0]!;
    timer.cancelled = true;
    timer.fire();
    await until(() => workers[0]!.terminateCalls === 1);
  });

  test("-1 on a request keeps the model loaded", async () => {
    const timers: FakeTimer[] = [];
    const { pool } = harness({ timers });
    await pool.infer(target(), INPUTS, undefined, { keepAliveSeconds: -1 });
    expect(live(timers)).toHaveLength(0);
  });
});

function live(timers: FakeTimer[]): FakeTimer[] {
  return timers.filter((timer) => !timer.cancelled);
}
