/**
 * Property tests of the scheduler's heap against an independent reference: a plain list kept sorted
 * by (priority, arrival), the order the scheduler promises (strict priority, FIFO within a level).
 * Runs of operations long enough to grow the heap's arrays past several doublings.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { PriorityHeap, schedulingKey } from "../../src/scheduler/heap.ts";

interface Entry {
  priority: number;
  sequence: number;
}

type Operation = { kind: "push"; priority: number } | { kind: "pop" } | { kind: "remove"; modulus: number };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("push" as const), priority: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 4, arbitrary: fc.constant({ kind: "pop" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("remove" as const), modulus: fc.integer({ min: 2, max: 7 }) }) },
);

/** The reference: the next entry out is the lowest priority number, the earliest arrival among equals. */
function referenceNext(entries: Entry[]): number {
  let best = -1;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    const current = entries[best];
    if (!current || entry.priority < current.priority || (entry.priority === current.priority && entry.sequence < current.sequence)) best = index;
  }
  return best;
}

describe("PriorityHeap", () => {
  test("pops by priority, then arrival, for any run of pushes, pops and sweeps", () => {
    fc.assert(
      fc.property(fc.array(operation, { minLength: 1, maxLength: 600 }), (operations) => {
        const heap = new PriorityHeap<Entry>();
        const reference: Entry[] = [];
        let sequence = 0;
        for (const step of operations) {
          if (step.kind === "push") {
            const entry = { priority: step.priority, sequence: sequence++ };
            heap.push(schedulingKey(entry.priority, entry.sequence), entry);
            reference.push(entry);
          } else if (step.kind === "pop") {
            const next = referenceNext(reference);
            const expected = next < 0 ? undefined : reference.splice(next, 1)[0];
            expect(heap.peek()).toBe(expected);
            expect(heap.peekKey()).toBe(expected && schedulingKey(expected.priority, expected.sequence));
            expect(heap.pop()).toBe(expected);
          } else {
            const removed = heap.removeWhere((entry) => entry.sequence % step.modulus === 0);
            const expected = reference.filter((entry) => entry.sequence % step.modulus === 0);
            expect(new Set(removed)).toEqual(new Set(expected));
            expect(removed.length).toBe(expected.length);
            for (const entry of expected) reference.splice(reference.indexOf(entry), 1);
          }
          expect(heap.size).toBe(reference.length);
        }
        // Drain: whatever is left comes out in the reference's order too.
        while (reference.length > 0) expect(heap.pop()).toBe(reference.splice(referenceNext(reference), 1)[0]);
        expect(heap.pop()).toBeUndefined();
        expect(heap.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
