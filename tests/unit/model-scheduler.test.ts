/**
 * Queue policy of ModelScheduler with a fake clock and a fake batch runner: ordering, limits,
 * deadlines, cancellation, batching, concurrency. No processes, no real timers.
 */
import { describe, expect, test } from "bun:test";
import { ModelMoraError } from "../../src/errors.ts";
import { type Clock, MAX_TIMER_MILLISECONDS, systemClock, timerDelay } from "../../src/clock.ts";
import { PriorityHeap, schedulingKey } from "../../src/scheduler/heap.ts";
import { type ItemOutcome, ModelScheduler, type QueuePolicy } from "../../src/scheduler/model-scheduler.ts";

class FakeClock implements Clock {
  now = 0;
  private timers: { due: number; callback: () => void; live: boolean }[] = [];
  nowMicroseconds(): number {
    return this.now;
  }
  setTimer(callback: () => void, delayMicroseconds: number): () => void {
    const timer = { due: this.now + delayMicroseconds, callback, live: true };
    this.timers.push(timer);
    return () => void (timer.live = false);
  }
  advance(microseconds: number): void {
    const target = this.now + microseconds;
    for (;;) {
      const due = this.timers.filter((timer) => timer.live && timer.due <= target).sort((a, b) => a.due - b.due)[0];
      if (!due) break;
      due.live = false;
      this.now = due.due;
      due.callback();
    }
    this.now = target;
  }
}

interface Batch {
  payloads: string[];
  finish: () => void;
  fail: (error: Error) => void;
}

function harness(policy: Partial<QueuePolicy> = {}) {
  const clock = new FakeClock();
  const batches: Batch[] = [];
  const scheduler = new ModelScheduler<string, string>(
    "m",
    { maxBatchSize: 0, preferredBatchSizes: [], maxQueueDelayMicroseconds: 0, maxQueueSize: 0, defaultTimeoutMicroseconds: 0, timeoutAction: "reject", concurrency: 1, ...policy },
    (payloads) =>
      new Promise<ItemOutcome<string>[]>((resolve, reject) => {
        batches.push({ payloads, finish: () => resolve(payloads.map((payload) => ({ ok: true, value: `done:${payload}` }))), fail: reject });
      }),
    clock,
  );
  const enqueue = (payload: string, options: { priority?: number; rows?: number; signature?: string; timeoutMicroseconds?: number; signal?: AbortSignal } = {}) =>
    scheduler.enqueue({ payload, priority: options.priority ?? 3, rows: options.rows ?? 1, signature: options.signature ?? "s", timeoutMicroseconds: options.timeoutMicroseconds, signal: options.signal });
  /** Finishes batches one by one (running ones first) until none is left, returning the dispatch order. */
  const drain = async () => {
    const order: string[][] = [];
    for (let index = 0; index < batches.length; index++) {
      order.push(batches[index]!.payloads);
      batches[index]!.finish();
      await Promise.resolve();
      await Promise.resolve();
      await Promise.resolve();
    }
    return order;
  };
  return { clock, batches, scheduler, enqueue, drain };
}

async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await Promise.resolve();
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return (error as ModelMoraError).code;
  }
}

describe("PriorityHeap", () => {
  test("pops in key order for a random sequence of pushes and pops, like a sorted list", () => {
    const heap = new PriorityHeap<number>();
    const reference: number[] = [];
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let step = 0; step < 5000; step++) {
      if (random() < 0.6 || reference.length === 0) {
        const key = Math.floor(random() * 1000);
        heap.push(key, key);
        reference.push(key);
        reference.sort((a, b) => a - b);
      } else {
        expect(heap.pop()).toBe(reference.shift()!);
      }
      expect(heap.size).toBe(reference.length);
    }
  });

  test("schedulingKey orders by priority first, then arrival", () => {
    expect(schedulingKey(1, 1_000_000)).toBeLessThan(schedulingKey(2, 0));
    expect(schedulingKey(2, 5)).toBeLessThan(schedulingKey(2, 6));
  });

  test("removeWhere takes out matching values and keeps the order of the rest", () => {
    const heap = new PriorityHeap<number>();
    for (const key of [5, 1, 4, 2, 3]) heap.push(key, key);
    expect(heap.removeWhere((value) => value % 2 === 0).sort()).toEqual([2, 4]);
    expect([heap.pop(), heap.pop(), heap.pop(), heap.pop()]).toEqual([1, 3, 5, undefined]);
  });
});

describe("ModelScheduler ordering", () => {
  test("strict priority: every CRITICAL runs before any HIGH queued earlier; FIFO within a level", async () => {
    const { enqueue, drain } = harness();
    const results = [
      enqueue("busy"), // occupies the only slot so the rest queue up
      enqueue("low-1", { priority: 4 }),
      enqueue("high-1", { priority: 2 }),
      enqueue("normal-1", { priority: 3 }),
      enqueue("critical-1", { priority: 1 }),
      enqueue("high-2", { priority: 2 }),
      enqueue("critical-2", { priority: 1 }),
    ];
    const order = (await drain()).flat();
    expect(order).toEqual(["busy", "critical-1", "critical-2", "high-1", "high-2", "normal-1", "low-1"]);
    expect(await Promise.all(results)).toHaveLength(7);
  });
});

describe("ModelScheduler limits", () => {
  test("maxQueueSize: the request beyond it is QUEUE_FULL with a retry hint; running ones do not count", async () => {
    const { enqueue, scheduler } = harness({ maxQueueSize: 2 });
    void enqueue("running");
    void enqueue("q1");
    void enqueue("q2");
    const rejected = enqueue("q3");
    const error = await rejected.catch((caught: ModelMoraError) => caught);
    expect((error as ModelMoraError).code).toBe("QUEUE_FULL");
    expect((error as ModelMoraError).details).toMatchObject({ retryAfterSeconds: 1 });
    expect(scheduler.stats()).toMatchObject({ queued: 2, rejectedQueueFull: 1 });
  });

  test("a request whose deadline passes while queued never runs and gets INFERENCE_TIMEOUT", async () => {
    const { enqueue, clock, drain } = harness();
    const running = enqueue("running");
    const late = enqueue("late", { timeoutMicroseconds: 500 });
    clock.advance(499);
    await settle();
    clock.advance(1);
    expect(await codeOf(late)).toBe("INFERENCE_TIMEOUT");
    expect((await drain()).flat()).toEqual(["running"]);
    await running;
  });

  test("a request's timeout may only shorten the model default", async () => {
    const { enqueue, clock } = harness({ defaultTimeoutMicroseconds: 1000 });
    void enqueue("running");
    const longer = enqueue("asks-longer", { timeoutMicroseconds: 5000 });
    clock.advance(1000);
    expect(await codeOf(longer)).toBe("INFERENCE_TIMEOUT");
  });

  test("timeoutAction delay: an expired request drops behind every priority level instead of failing", async () => {
    const { enqueue, clock, drain } = harness({ timeoutAction: "delay" });
    void enqueue("running");
    const delayed = enqueue("delayed", { priority: 1, timeoutMicroseconds: 100 });
    void enqueue("low", { priority: 4 });
    clock.advance(100);
    expect((await drain()).flat()).toEqual(["running", "low", "delayed"]);
    expect(await delayed).toBe("done:delayed");
  });

  test("an aborted signal removes a queued request: it never runs", async () => {
    const { enqueue, drain, scheduler } = harness();
    void enqueue("running");
    const controller = new AbortController();
    const cancelled = enqueue("cancelled", { signal: controller.signal });
    void enqueue("next");
    controller.abort();
    expect(await codeOf(cancelled)).toBe("CANCELLED");
    expect((await drain()).flat()).toEqual(["running", "next"]);
    expect(scheduler.stats()).toMatchObject({ cancelled: 1, queued: 0 });
  });

  test("a request with more rows than maxBatchSize runs alone; the requests behind it batch as usual", async () => {
    const { enqueue, drain } = harness({ maxBatchSize: 4 });
    const answers = [enqueue("running"), enqueue("big", { rows: 5 }), enqueue("a", { rows: 2 }), enqueue("b", { rows: 2 })];
    expect(await drain()).toEqual([["running"], ["big"], ["a", "b"]]);
    expect(await Promise.all(answers)).toEqual(["done:running", "done:big", "done:a", "done:b"]);
  });

  test("close rejects queued requests and refuses new ones", async () => {
    const { enqueue, scheduler } = harness();
    void enqueue("running");
    const queued = enqueue("queued");
    scheduler.close(new ModelMoraError("SHUTTING_DOWN", "bye"));
    expect(await codeOf(queued)).toBe("SHUTTING_DOWN");
    expect(await codeOf(enqueue("after"))).toBe("SHUTTING_DOWN");
  });
});

describe("ModelScheduler batching and concurrency", () => {
  test("requests queued while the worker is busy leave as one batch", async () => {
    const { enqueue, batches } = harness({ maxBatchSize: 8, maxQueueDelayMicroseconds: 0 });
    void enqueue("first");
    for (const name of ["a", "b", "c"]) void enqueue(name);
    expect(batches.map((batch) => batch.payloads)).toEqual([["first"]]);
    batches[0]!.finish();
    await settle();
    expect(batches.map((batch) => batch.payloads)).toEqual([["first"], ["a", "b", "c"]]);
  });

  test("the batch former's wait is honoured with the clock: nothing leaves before the delay", async () => {
    const { enqueue, batches, clock } = harness({ maxBatchSize: 4, maxQueueDelayMicroseconds: 1000 });
    void enqueue("a");
    clock.advance(999);
    expect(batches).toHaveLength(0);
    void enqueue("b");
    clock.advance(1);
    expect(batches.map((batch) => batch.payloads)).toEqual([["a", "b"]]);
  });

  test("a full batch leaves without waiting", () => {
    const { enqueue, batches } = harness({ maxBatchSize: 2, maxQueueDelayMicroseconds: 1_000_000 });
    void enqueue("a");
    void enqueue("b");
    expect(batches.map((batch) => batch.payloads)).toEqual([["a", "b"]]);
  });

  test("only requests with the same signature share a batch; others keep their place", async () => {
    const { enqueue, batches } = harness({ maxBatchSize: 8, maxQueueDelayMicroseconds: 0 });
    void enqueue("busy");
    void enqueue("x1", { signature: "x" });
    void enqueue("y1", { signature: "y" });
    void enqueue("x2", { signature: "x" });
    batches[0]!.finish();
    await settle();
    expect(batches[1]!.payloads).toEqual(["x1", "x2"]);
    batches[1]!.finish();
    await settle();
    expect(batches[2]!.payloads).toEqual(["y1"]);
  });

  test("concurrency (replicas) bounds batches in flight", async () => {
    const { enqueue, batches, scheduler } = harness({ concurrency: 2 });
    for (const name of ["a", "b", "c"]) void enqueue(name);
    expect(batches).toHaveLength(2);
    expect(scheduler.stats()).toMatchObject({ inFlightBatches: 2, queued: 1 });
    batches[0]!.finish();
    await settle();
    expect(batches).toHaveLength(3);
  });

  test("with several replicas idle, a batch that takes everything queued is shared among them", () => {
    const { enqueue, batches, clock } = harness({ concurrency: 2, maxBatchSize: 8, maxQueueDelayMicroseconds: 1000 });
    for (const name of ["a", "b", "c", "d", "e"]) void enqueue(name);
    expect(batches).toHaveLength(0);
    clock.advance(1000);
    expect(batches.map((batch) => batch.payloads)).toEqual([["a", "b"], ["c", "d", "e"]]);
  });

  test("a batch with more queued behind it is not split: each replica that frees takes the next batch", async () => {
    const { enqueue, batches } = harness({ concurrency: 2, maxBatchSize: 2, maxQueueDelayMicroseconds: 0 });
    void enqueue("p");
    void enqueue("q");
    for (const name of ["a", "b", "c", "d", "e"]) void enqueue(name);
    expect(batches.map((batch) => batch.payloads)).toEqual([["p"], ["q"]]);
    batches[0]!.finish();
    await settle();
    batches[1]!.finish();
    await settle();
    expect(batches.slice(2).map((batch) => batch.payloads)).toEqual([["a", "b"], ["c", "d"]]);
  });

  test("a failed batch rejects each of its requests and the queue keeps going", async () => {
    const { enqueue, batches } = harness();
    const failing = enqueue("a");
    const next = enqueue("b");
    batches[0]!.fail(new ModelMoraError("INFERENCE_FAILED", "boom"));
    expect(await codeOf(failing)).toBe("INFERENCE_FAILED");
    await settle();
    batches[1]!.finish();
    expect(await next).toBe("done:b");
  });
});

describe("timers", () => {
  test("a delay beyond what setTimeout takes is clamped, not fired at once", async () => {
    expect(timerDelay(2 ** 40)).toBe(MAX_TIMER_MILLISECONDS);
    expect(timerDelay(-5)).toBe(0);
    let fired = false;
    const cancel = systemClock.setTimer(() => (fired = true), 2 ** 32 * 1000); // 2^32 ms: would overflow to ~0
    await Bun.sleep(20);
    cancel();
    expect(fired).toBe(false);
  });
});
