/**
 * Pins the standby pool with fake workers: it keeps `count` workers started, hands one out per
 * spawn (a fresh one when none is alive), replaces a taken one after its delay, counts their memory,
 * and stops them at close. Count 0 spawns on demand only.
 */
import { expect, test } from "bun:test";
import { StandbyWorkers } from "../../src/lifecycle/standby.ts";
import type { WorkerExit, WorkerHandle } from "../../src/lifecycle/worker-process.ts";

class FakeWorker implements WorkerHandle {
  alive = true;
  terminated = false;
  private resolveExit!: (exit: WorkerExit) => void;
  readonly exited = new Promise<WorkerExit>((resolve) => (this.resolveExit = resolve));
  constructor(readonly pid: number) {}
  load(): never {
    throw new Error("not used");
  }
  infer(): never {
    throw new Error("not used");
  }
  die(): void {
    this.alive = false;
    this.resolveExit({ exitCode: 1, signalCode: null });
  }
  async terminate(): Promise<WorkerExit> {
    this.terminated = true;
    this.die();
    return this.exited;
  }
}

function harness(count: number) {
  const spawned: FakeWorker[] = [];
  const spawnFresh = () => {
    const worker = new FakeWorker(100 + spawned.length);
    spawned.push(worker);
    return worker;
  };
  const probe = (pid: number) => spawned.find((worker) => worker.pid === pid && worker.alive) && 50_000_000;
  const standby = new StandbyWorkers(spawnFresh, count, (pid) => probe(pid) || undefined, 5);
  return { standby, spawned };
}

test("the pool starts its standby workers at once and hands them out before spawning fresh ones", async () => {
  const { standby, spawned } = harness(1);
  expect(spawned).toHaveLength(1);
  expect(standby.residentBytes()).toBe(50_000_000);
  const taken = standby.spawn();
  expect(taken).toBe(spawned[0]!);
  expect(standby.pids).toEqual([]);
  await Bun.sleep(30); // the replacement comes after its delay
  expect(spawned).toHaveLength(2);
  expect(standby.pids).toEqual([spawned[1]!.pid]);
  await standby.close();
  expect(spawned[1]!.terminated).toBe(true);
  expect(spawned[0]!.terminated).toBe(false); // a taken worker is the pool's, not the standby's
});

test("a standby worker that died is dropped, and the next spawn starts a fresh one", async () => {
  const { standby, spawned } = harness(1);
  spawned[0]!.die();
  await Bun.sleep(0);
  const taken = standby.spawn();
  expect(taken).toBe(spawned[1]!);
  await standby.close();
});

test("with count 0 nothing waits and every spawn is fresh", async () => {
  const { standby, spawned } = harness(0);
  expect(spawned).toHaveLength(0);
  standby.spawn();
  await Bun.sleep(30);
  expect(spawned).toHaveLength(1);
  expect(standby.residentBytes()).toBe(0);
  await standby.close();
});
