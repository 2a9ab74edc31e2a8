/**
 * The inference watchdog's policy (src/lifecycle/watchdog.ts) with a fake worker: it kills only a
 * batch still running past its deadline plus grace, answers that batch INFERENCE_TIMEOUT, leaves
 * batches without a deadline alone, and a deadline beyond setTimeout's range (a request with a
 * 50-day timeout) never fires at once. Real processes: tests/integration/watchdog.test.ts.
 */
import { expect, test } from "bun:test";
import pino from "pino";
import { systemClock } from "../../src/clock.ts";
import { underWatchdog } from "../../src/lifecycle/watchdog.ts";
import type { WorkerHandle } from "../../src/lifecycle/worker-process.ts";
import { codeOf } from "../support/core-fixture.ts";

function fakeWorker(): { worker: WorkerHandle; terminations: number[]; kill: () => void; work: Promise<string> } {
  let fail!: (error: Error) => void;
  const work = new Promise<string>((_, reject) => (fail = reject));
  const terminations: number[] = [];
  const worker = {
    pid: 4242,
    exited: new Promise(() => undefined),
    load: async () => ({}) as never,
    infer: async () => ({}) as never,
    terminate: async (grace?: number) => {
      terminations.push(grace ?? -1);
      fail(new Error("worker stopped"));
      return { exitCode: null, signalCode: "SIGTERM" };
    },
  } as WorkerHandle;
  return { worker, terminations, kill: () => fail(new Error("killed")), work };
}

const settings = { graceMilliseconds: 20, clock: systemClock, logger: pino({ level: "silent" }) };
const model = { name: "m", version: "1" };

test("a batch still running past its deadline plus grace kills its worker and is INFERENCE_TIMEOUT", async () => {
  const { worker, terminations, work } = fakeWorker();
  expect(await codeOf(underWatchdog(work, worker, Date.now() + 10, model, settings))).toBe("INFERENCE_TIMEOUT");
  expect(terminations).toEqual([0]);
});

test("a batch that finishes in time, or has no deadline, is never cut off", async () => {
  expect(await underWatchdog(Bun.sleep(40).then(() => "done"), fakeWorker().worker, Date.now() + 30, model, settings)).toBe("done");
  const { worker, terminations } = fakeWorker();
  expect(await underWatchdog(Bun.sleep(60).then(() => "done"), worker, undefined, model, settings)).toBe("done");
  expect(terminations).toEqual([]);
});

test("a deadline beyond setTimeout's 2^31−1 ms does not fire at once", async () => {
  const { worker, terminations } = fakeWorker();
  const fiftyDays = 50 * 24 * 3600 * 1000;
  expect(await underWatchdog(Bun.sleep(50).then(() => "done"), worker, Date.now() + fiftyDays, model, settings)).toBe("done");
  expect(terminations).toEqual([]);
});
