/**
 * Pins admission of generation sequences (txt2txt continuous batching): at most `capacity` run at
 * once; a freed slot goes to the waiting sequence of best priority, then arrival; a waiter whose
 * client goes away or whose deadline passes leaves the queue without taking a slot.
 */
import { describe, expect, test } from "bun:test";
import { SequenceAdmission } from "../../src/scheduler/sequence-admission.ts";

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("SequenceAdmission", () => {
  test("admits up to capacity at once, then hands freed slots out by priority then arrival", async () => {
    const admission = new SequenceAdmission(2);
    const first = await admission.admit(3);
    const second = await admission.admit(3);
    const order: string[] = [];
    const wait = (name: string, priority: number) => admission.admit(priority).then((release) => (order.push(name), release));
    const waits = [wait("low", 4), wait("normal-1", 3), wait("critical", 1), wait("normal-2", 3)];
    await settle();
    expect(order).toEqual([]);
    expect(admission.stats).toEqual({ running: 2, waiting: 4 });
    first();
    first(); // releasing twice frees one slot only
    await settle();
    expect(order).toEqual(["critical"]);
    second();
    await settle();
    expect(order).toEqual(["critical", "normal-1"]);
    const released = await Promise.all(waits.slice(1, 3));
    for (const release of released) release();
    await settle();
    expect(order).toEqual(["critical", "normal-1", "normal-2", "low"]);
    expect(admission.stats).toEqual({ running: 2, waiting: 0 });
  });

  test("a waiter whose signal aborts or whose deadline passes leaves without taking a slot", async () => {
    const admission = new SequenceAdmission(1);
    const running = await admission.admit(3);
    const abort = new AbortController();
    const aborted = admission.admit(1, { signal: abort.signal }).then(() => "admitted", (error) => error.code);
    const late = admission.admit(1, { deadlineAtMilliseconds: Date.now() + 5 }).then(() => "admitted", (error) => error.code);
    const patient = admission.admit(4);
    abort.abort();
    expect(await aborted).toBe("CANCELLED");
    expect(await late).toBe("INFERENCE_TIMEOUT");
    expect(admission.stats).toEqual({ running: 1, waiting: 1 });
    running();
    await patient;
    expect(admission.stats).toEqual({ running: 1, waiting: 0 });
  });

  test("a larger capacity admits waiters at once", async () => {
    const admission = new SequenceAdmission(1);
    await admission.admit(3);
    const waiting = admission.admit(3);
    admission.setCapacity(2);
    await waiting;
    expect(admission.stats).toEqual({ running: 2, waiting: 0 });
  });
});
