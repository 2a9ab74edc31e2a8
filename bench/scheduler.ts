/**
 * Scheduler microbenchmark: how fast requests go through a priority queue, against the seed
 * study's asyncio.PriorityQueue (730,108 ops/s, 0.7 µs per enqueue) and our goal (≥ 20,000,000 ops/s,
 * DESIGN §1: "beat that by more than an order of magnitude").
 *
 * Two numbers per case:
 * - steady-state throughput: a queue holding `DEPTH` items; one op = one enqueue + one dequeue,
 *   priorities 1..4 mixed pseudo-randomly; timed by mitata (`measure`, which batches fast functions).
 * - enqueue latency: many timed bursts of `BURST` enqueues each (one `Bun.nanoseconds()` pair per
 *   burst, its own cost subtracted), reported per enqueue as p50/p99 over bursts; every burst is
 *   dequeued again untimed so the depth stays at `DEPTH`.
 *
 * Cases are a list: a `ModelQueue`-style enqueue (promise per request) is one more entry in `CASES`.
 *
 * Run: `bun bench/scheduler.ts` (or `bun bench/run.ts scheduler`).
 */
import { do_not_optimize, measure } from "mitata";
import { PriorityHeap, schedulingKey } from "../src/scheduler/heap.ts";
import { describeMachine, integer, machineLine, markdownTable, ratio, significant, verdict } from "./lib/report.ts";

/** The seed study's asyncio.PriorityQueue (DESIGN §1). */
export const SEED_OPS_PER_SECOND = 730_108;
export const SEED_ENQUEUE_NANOSECONDS = 700;
export const GOAL_OPS_PER_SECOND = 20_000_000;

const DEPTH = 1_000;
const BURST = 32;
const LATENCY_BURSTS = 20_000;

/** A queue under test, already holding `depth` items. */
export interface PreparedQueue {
  /** The steady-state op: one enqueue and one dequeue. */
  cycle(): void;
  /** `count` enqueues and nothing else (the timed part of the latency probe). */
  enqueue(count: number): void;
  /** `count` dequeues (untimed, to restore the depth). */
  dequeue(count: number): void;
}

export interface QueueCase {
  name: string;
  prepare(depth: number): PreparedQueue;
}

/** Priorities 1..4, pseudo-random but the same every run; indexed with a mask in the hot loop. */
const PRIORITIES = (() => {
  const priorities = new Uint8Array(4096);
  let state = 0x9e3779b9;
  for (let index = 0; index < priorities.length; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    priorities[index] = 1 + (state >>> 30);
  }
  return priorities;
})();
const PRIORITY_MASK = PRIORITIES.length - 1;

interface Item {
  sequence: number;
}

const binaryHeapCase: QueueCase = {
  name: "PriorityHeap push+pop",
  prepare(depth) {
    const heap = new PriorityHeap<Item>();
    let sequence = 0;
    const push = () => {
      const current = sequence++;
      heap.push(schedulingKey(PRIORITIES[current & PRIORITY_MASK]!, current), { sequence: current });
    };
    for (let index = 0; index < depth; index++) push();
    return {
      cycle() {
        push();
        do_not_optimize(heap.pop());
      },
      enqueue(count) {
        for (let index = 0; index < count; index++) push();
      },
      dequeue(count) {
        for (let index = 0; index < count; index++) heap.pop();
      },
    };
  },
};

export const CASES: QueueCase[] = [binaryHeapCase];

export interface QueueResult {
  name: string;
  depth: number;
  opsPerSecond: number;
  enqueueP50Nanoseconds: number;
  enqueueP99Nanoseconds: number;
}

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** Median cost of one `Bun.nanoseconds()` pair, subtracted from every burst. */
function timerOverheadNanoseconds(): number {
  const samples = new Float64Array(10_000);
  for (let index = 0; index < samples.length; index++) {
    const start = Bun.nanoseconds();
    samples[index] = Bun.nanoseconds() - start;
  }
  return percentile(samples.sort(), 0.5);
}

function enqueueLatency(queue: PreparedQueue): { p50: number; p99: number } {
  const overhead = timerOverheadNanoseconds();
  // Warm the enqueue path before timing it.
  for (let index = 0; index < 1_000; index++) {
    queue.enqueue(BURST);
    queue.dequeue(BURST);
  }
  const perEnqueue = new Float64Array(LATENCY_BURSTS);
  for (let burst = 0; burst < LATENCY_BURSTS; burst++) {
    const start = Bun.nanoseconds();
    queue.enqueue(BURST);
    perEnqueue[burst] = Math.max(0, Bun.nanoseconds() - start - overhead) / BURST;
    queue.dequeue(BURST);
  }
  perEnqueue.sort();
  return { p50: percentile(perEnqueue, 0.5), p99: percentile(perEnqueue, 0.99) };
}

export async function measureCase(queueCase: QueueCase, depth = DEPTH): Promise<QueueResult> {
  const steady = queueCase.prepare(depth);
  const stats = await measure(() => steady.cycle());
  const latency = enqueueLatency(queueCase.prepare(depth));
  return {
    name: queueCase.name,
    depth,
    opsPerSecond: 1e9 / stats.avg,
    enqueueP50Nanoseconds: latency.p50,
    enqueueP99Nanoseconds: latency.p99,
  };
}

export function schedulerTable(results: readonly QueueResult[]): string {
  return markdownTable(
    ["case", "depth", "enqueue+dequeue ops/s", "vs seed 730,108", "goal ≥ 20,000,000", "enqueue p50", "enqueue p99", "p50 vs seed 0.7 µs"],
    results.map((result) => [
      result.name,
      integer(result.depth),
      integer(result.opsPerSecond),
      ratio(result.opsPerSecond / SEED_OPS_PER_SECOND),
      `${verdict(result.opsPerSecond >= GOAL_OPS_PER_SECOND)} (${ratio(result.opsPerSecond / GOAL_OPS_PER_SECOND)})`,
      `${significant(result.enqueueP50Nanoseconds)} ns`,
      `${significant(result.enqueueP99Nanoseconds)} ns`,
      `${significant(SEED_ENQUEUE_NANOSECONDS / Math.max(result.enqueueP50Nanoseconds, 0.01))}× faster`,
    ]),
  );
}

export async function runSchedulerBench(cases: readonly QueueCase[] = CASES): Promise<QueueResult[]> {
  const results: QueueResult[] = [];
  for (const queueCase of cases) results.push(await measureCase(queueCase));
  process.stdout.write(`\n## Scheduler\n\n${machineLine(describeMachine())} · \`bun bench/run.ts scheduler\`\n\n`);
  process.stdout.write(`${schedulerTable(results)}\n\n`);
  process.stdout.write(
    `ops/s: mitata mean over a queue of ${integer(DEPTH)}, priorities 1..4. Enqueue latency: per enqueue, from ${integer(LATENCY_BURSTS)} bursts of ${BURST} timed with Bun.nanoseconds() (timer cost subtracted).\n`,
  );
  return results;
}

if (import.meta.main) await runSchedulerBench();
