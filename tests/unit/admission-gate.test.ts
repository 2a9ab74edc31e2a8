/**
 * Pins reading and parsing in priority order under overload: read turns are given at once while the
 * queue is short, waiting requests get them by (priority, arrival) as the queue drains, one per turn
 * of the event loop; one parse turn is open at a time, the next going to the highest priority
 * waiting; CRITICAL never waits for either; an aborted waiter gives its place up.
 */
import { describe, expect, test } from "bun:test";
import { AdmissionGate, type ReadTurn, type Turn } from "../../src/inference/admission-gate.ts";
import { Priority } from "../../src/inference/priority.ts";

function gateWithQueue(depthLimit: number, parseConcurrency = 1) {
  const queue = { length: 0 };
  return { queue, gate: new AdmissionGate(() => queue.length, depthLimit, parseConcurrency) };
}

describe("AdmissionGate", () => {
  test("read turns are given at once below the depth limit, counting turns given but not yet queued", async () => {
    const { gate } = gateWithQueue(2);
    const first = gate.turn(Priority.LOW);
    const second = gate.turn(Priority.LOW);
    expect(first instanceof Promise).toBe(false);
    expect(second instanceof Promise).toBe(false);
    expect(gate.turn(Priority.LOW) instanceof Promise).toBe(true);
  });

  test("one parse turn is open at a time, however short the queue; the next goes to the highest priority waiting", async () => {
    const { gate } = gateWithQueue(100);
    const read = (priority: Priority) => gate.turn(priority) as ReadTurn;
    const [first, low, high] = [read(Priority.LOW), read(Priority.LOW), read(Priority.HIGH)];
    for (const turn of [first, low, high]) expect(turn instanceof Promise).toBe(false); // reading is not limited here
    const firstParse = first.parse();
    expect(firstParse instanceof Promise).toBe(false);
    const order: string[] = [];
    const lowParse = (low.parse() as Promise<Turn>).then((turn) => (order.push("low"), turn));
    const highParse = (high.parse() as Promise<Turn>).then((turn) => (order.push("high"), turn));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual([]);
    (firstParse as Turn).done();
    (await highParse).done();
    await lowParse;
    expect(order).toEqual(["high", "low"]);
  });

  test("read turns freed together are handed out one per turn of the event loop", async () => {
    const { queue, gate } = gateWithQueue(2);
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

  test("CRITICAL never waits to read or to parse, however deep the queue or busy the parser", () => {
    const { queue, gate } = gateWithQueue(1);
    queue.length = 500;
    expect(gate.turn(Priority.CRITICAL) instanceof Promise).toBe(false);
    queue.length = 0;
    const low = gate.turn(Priority.LOW) as ReadTurn;
    expect(low.parse() instanceof Promise).toBe(false); // the one parse turn is now taken
    const critical = gate.turn(Priority.CRITICAL) as ReadTurn;
    expect(critical instanceof Promise).toBe(false);
    expect(critical.parse() instanceof Promise).toBe(false);
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
