/**
 * Pins parsing in priority order under overload: turns are given at once while the queue is short,
 * CRITICAL never waits, waiting requests get their turns by (priority, arrival) as the queue drains,
 * and an aborted waiter gives its place up.
 */
import { describe, expect, test } from "bun:test";
import { AdmissionGate, type Turn } from "../../src/inference/admission-gate.ts";
import { Priority } from "../../src/inference/priority.ts";

function gateWithQueue(depthLimit: number) {
  const queue = { length: 0 };
  return { queue, gate: new AdmissionGate(() => queue.length, depthLimit) };
}

describe("AdmissionGate", () => {
  test("turns are given at once below the depth limit, counting turns given but not yet queued", async () => {
    const { gate } = gateWithQueue(2);
    const first = gate.turn(Priority.LOW);
    const second = gate.turn(Priority.LOW);
    expect(first instanceof Promise).toBe(false);
    expect(second instanceof Promise).toBe(false);
    expect(gate.turn(Priority.LOW) instanceof Promise).toBe(true);
  });

  test("CRITICAL never waits, however deep the queue", () => {
    const { queue, gate } = gateWithQueue(1);
    queue.length = 500;
    expect(gate.turn(Priority.CRITICAL) instanceof Promise).toBe(false);
  });

  test("waiters get turns by priority, then arrival, as the queue drains", async () => {
    const { queue, gate } = gateWithQueue(1);
    queue.length = 1;
    const order: string[] = [];
    const wait = (name: string, priority: Priority) => (gate.turn(priority) as Promise<Turn>).then((turn) => (order.push(name), turn));
    const waits = [wait("low-1", Priority.LOW), wait("normal", Priority.NORMAL), wait("low-2", Priority.LOW), wait("high", Priority.HIGH)];
    for (let step = 0; step < 4; step++) {
      queue.length = 0;
      gate.pump();
      await Promise.resolve();
      const turn = await Promise.race(waits);
      queue.length = 1; // the admitted request is now queued
      turn.done();
      waits.splice(0, waits.length, ...waits.map((each) => each)); // keep references
      await Bun.sleep(0);
      if (order.length === 4) break;
    }
    expect(order).toEqual(["high", "normal", "low-1", "low-2"]);
  });

  test("an aborted waiter rejects and gives its place to the next", async () => {
    const { queue, gate } = gateWithQueue(1);
    queue.length = 1;
    const controller = new AbortController();
    const aborted = gate.turn(Priority.NORMAL, controller.signal) as Promise<Turn>;
    const next = gate.turn(Priority.LOW) as Promise<Turn>;
    controller.abort(new Error("client went away"));
    expect(aborted).rejects.toThrow("client went away");
    queue.length = 0;
    gate.pump();
    const turn = await next;
    expect(typeof turn.done).toBe("function");
  });
});
