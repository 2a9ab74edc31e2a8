/**
 * Pins reading and parsing in priority order under overload: read turns are given while the bodies
 * read ahead fit the budget (one at least), by priority; one parse turn is open at a time, and only
 * while the queue is short, the next going to the highest priority waiting, one per turn of the
 * event loop; CRITICAL never waits for either; a body still being read holds back the parsing of
 * less urgent ones (for a bounded time); an aborted waiter gives its place up.
 */
import { describe, expect, test } from "bun:test";
import { AdmissionGate, type ReadTurn, type Turn, URGENT_READ_HOLD_MILLISECONDS } from "../../src/inference/admission-gate.ts";
import { Priority } from "../../src/inference/priority.ts";

function gateWithQueue(depthLimit: number, readAheadBytes = 1_000_000) {
  const queue = { length: 0 };
  return { queue, gate: new AdmissionGate(() => queue.length, depthLimit, readAheadBytes) };
}

const nextLoopTurn = () => new Promise((resolve) => setImmediate(resolve));

describe("AdmissionGate", () => {
  test("read turns are given while the bodies read and not yet queued fit the budget, and always to one", async () => {
    const { gate } = gateWithQueue(100, 100);
    const first = gate.turn(Priority.LOW, undefined, 60) as ReadTurn;
    expect(first instanceof Promise).toBe(false);
    const second = gate.turn(Priority.LOW, undefined, 60);
    expect(second instanceof Promise).toBe(true);
    first.done();
    expect(typeof (await second).done).toBe("function");
    (await second).done();
    // A body larger than the whole budget still gets a turn when nothing else is read ahead.
    expect(gate.turn(Priority.LOW, undefined, 500) instanceof Promise).toBe(false);
  });

  test("a waiting HIGH body is read before a waiting LOW one", async () => {
    const { gate } = gateWithQueue(100, 100);
    const holder = gate.turn(Priority.LOW, undefined, 100) as ReadTurn;
    const order: string[] = [];
    const low = (gate.turn(Priority.LOW, undefined, 100) as Promise<ReadTurn>).then((turn) => (order.push("low"), turn));
    const high = (gate.turn(Priority.HIGH, undefined, 100) as Promise<ReadTurn>).then((turn) => (order.push("high"), turn));
    holder.done();
    (await high).done();
    await low;
    expect(order).toEqual(["high", "low"]);
  });

  test("one parse turn is open at a time, however short the queue; the next goes to the highest priority waiting", async () => {
    const { gate } = gateWithQueue(100);
    const read = (priority: Priority) => gate.turn(priority) as ReadTurn;
    const first = read(Priority.LOW);
    const firstParse = first.parse();
    expect(firstParse instanceof Promise).toBe(false);
    const [low, high] = [read(Priority.LOW), read(Priority.HIGH)];
    for (const turn of [low, high]) expect(turn instanceof Promise).toBe(false); // within the read-ahead budget
    const order: string[] = [];
    const lowParse = (low.parse() as Promise<Turn>).then((turn) => (order.push("low"), turn));
    const highParse = (high.parse() as Promise<Turn>).then((turn) => (order.push("high"), turn));
    await nextLoopTurn();
    expect(order).toEqual([]);
    (firstParse as Turn).done();
    (await highParse).done();
    await lowParse;
    expect(order).toEqual(["high", "low"]);
  });

  test("while a more urgent body is still being read, less urgent bodies wait to be parsed", async () => {
    const { gate } = gateWithQueue(100);
    const critical = gate.turn(Priority.CRITICAL) as ReadTurn;
    const high = gate.turn(Priority.HIGH) as ReadTurn;
    const low = gate.turn(Priority.LOW) as ReadTurn;
    const order: string[] = [];
    const lowParse = (low.parse() as Promise<Turn>).then((turn) => (order.push("low"), turn));
    await nextLoopTurn();
    expect(order).toEqual([]); // CRITICAL and HIGH bodies are still arriving
    critical.parse(); // the CRITICAL body is in
    await nextLoopTurn();
    expect(order).toEqual([]); // the HIGH one is not
    const highParse = (high.parse() as Promise<Turn>).then((turn) => (order.push("high"), turn));
    (await highParse).done();
    (await lowParse).done();
    expect(order).toEqual(["high", "low"]);
  });

  test(`a more urgent body still not in after ${URGENT_READ_HOLD_MILLISECONDS} ms holds nobody back any longer`, async () => {
    let nowMilliseconds = 0;
    const gate = new AdmissionGate(() => 0, 100, 1_000_000, () => nowMilliseconds);
    gate.turn(Priority.CRITICAL); // a body that never arrives
    const low = gate.turn(Priority.LOW) as ReadTurn;
    let parsed = false;
    const lowParse = (low.parse() as Promise<Turn>).then((turn) => ((parsed = true), turn));
    await nextLoopTurn();
    expect(parsed).toBe(false);
    nowMilliseconds = URGENT_READ_HOLD_MILLISECONDS;
    (await lowParse).done(); // the gate's own timer hands the turn out once the hold has run out
    expect(parsed).toBe(true);
  });

  test("parse turns wait while the queue is at its depth, and go by priority, then arrival, as it drains, one per turn of the event loop", async () => {
    const { queue, gate } = gateWithQueue(1);
    queue.length = 1;
    const order: string[] = [];
    const turns: Turn[] = [];
    const parse = (name: string, priority: Priority) => ((gate.turn(priority) as ReadTurn).parse() as Promise<Turn>).then((turn) => (order.push(name), turns.push(turn)));
    void Promise.all([parse("low-1", Priority.LOW), parse("normal", Priority.NORMAL), parse("low-2", Priority.LOW), parse("high", Priority.HIGH)]);
    await nextLoopTurn();
    expect(order).toEqual([]); // the queue is at its depth
    for (let step = 1; step <= 4; step++) {
      queue.length = 0; // the queue drains by one
      gate.pump();
      while (turns.length < step) await nextLoopTurn();
      expect(turns).toHaveLength(step); // one turn per drain, never two at once
      queue.length = 1; // the admitted request is now queued
      turns.at(-1)!.done();
    }
    expect(order).toEqual(["high", "normal", "low-1", "low-2"]);
  });

  test("CRITICAL never waits to read or to parse, however deep the queue or busy the parser", () => {
    const { queue, gate } = gateWithQueue(1, 10);
    const low = gate.turn(Priority.LOW, undefined, 10) as ReadTurn;
    expect(low.parse() instanceof Promise).toBe(false); // the read-ahead budget and the one parse turn are taken
    queue.length = 500;
    const critical = gate.turn(Priority.CRITICAL, undefined, 10) as ReadTurn;
    expect(critical instanceof Promise).toBe(false);
    expect(critical.parse() instanceof Promise).toBe(false);
  });

  test("an aborted waiter rejects and gives its place to the next", async () => {
    const { queue, gate } = gateWithQueue(1);
    queue.length = 1;
    const controller = new AbortController();
    const aborted = (gate.turn(Priority.NORMAL) as ReadTurn).parse(controller.signal) as Promise<Turn>;
    const next = (gate.turn(Priority.LOW) as ReadTurn).parse() as Promise<Turn>;
    controller.abort(new Error("client went away"));
    await expect(aborted).rejects.toThrow("client went away");
    queue.length = 0;
    gate.pump();
    const turn = await next;
    expect(typeof turn.done).toBe("function");
  });
});
