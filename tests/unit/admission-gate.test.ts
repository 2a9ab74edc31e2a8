/**
 * Pins parsing in priority order under overload: turns are given at once while the queue is short
 * and few turns are open, CRITICAL never waits, waiting requests get their turns by (priority,
 * arrival) as the queue drains, one per turn of the event loop, and an aborted waiter gives its
 * place up.
 */
import { describe, expect, test } from "bun:test";
import { AdmissionGate, type Turn } from "../../src/inference/admission-gate.ts";
import { Priority } from "../../src/inference/priority.ts";

function gateWithQueue(depthLimit: number, parseConcurrency = depthLimit) {
  const queue = { length: 0 };
  return { queue, gate: new AdmissionGate(() => queue.length, depthLimit, parseConcurrency) };
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

  test("no more turns are open at once than the parse concurrency, however short the queue", async () => {
    const { gate } = gateWithQueue(100, 1);
    const first = gate.turn(Priority.LOW);
    expect(first instanceof Promise).toBe(false);
    const second = gate.turn(Priority.LOW);
    expect(second instanceof Promise).toBe(true);
    let given = false;
    void (second as Promise<Turn>).then(() => (given = true));
    await Bun.sleep(0);
    expect(given).toBe(false);
    (first as Turn).done();
    await second;
    expect(given).toBe(true);
  });

  test("turns freed together are handed out one per turn of the event loop", async () => {
    const { queue, gate } = gateWithQueue(2, 2);
    queue.length = 2;
    const given: number[] = [];
    const waits = [0, 1].map((index) => (gate.turn(Priority.LOW) as Promise<Turn>).then((turn) => (given.push(index), turn)));
    queue.length = 0;
    gate.pump();
    await new Promise((resolve) => setImmediate(resolve));
    expect(given).toEqual([0]);
    await Promise.all(waits);
    expect(given).toEqual([0, 1]);
  });

  test("CRITICAL never waits, however deep the queue or many turns are open", () => {
    const { queue, gate } = gateWithQueue(1, 1);
    queue.length = 500;
    expect(gate.turn(Priority.CRITICAL) instanceof Promise).toBe(false);
    queue.length = 0;
    expect(gate.turn(Priority.LOW) instanceof Promise).toBe(false);
    expect(gate.turn(Priority.CRITICAL) instanceof Promise).toBe(false);
  });

  test("waiters get turns by priority, then arrival, as the queue drains", async () => {
    const { queue, gate } = gateWithQueue(1);
    queue.length = 1;
    const order: string[] = [];
    const turns: Turn[] = [];
    const wait = (name: string, priority: Priority) => (gate.turn(priority) as Promise<Turn>).then((turn) => (order.push(name), turns.push(turn)));
    void Promise.all([wait("low-1", Priority.LOW), wait("normal", Priority.NORMAL), wait("low-2", Priority.LOW), wait("high", Priority.HIGH)]);
    for (let step = 1; step <= 4; step++) {
      queue.length = 0; // the queue drains by one
      gate.pump();
      while (turns.length < step) await new Promise((resolve) => setImmediate(resolve));
      queue.length = 1; // the admitted request is now queued
      turns.at(-1)!.done();
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
