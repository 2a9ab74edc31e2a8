/**
 * Pins how a request's priority is read: Triton numbering (1 = highest), names case-insensitively,
 * NORMAL when absent, and INVALID_INPUT naming the field for anything else.
 */
import { describe, expect, test } from "bun:test";
import { ModelMoraError } from "../../src/errors.ts";
import { Priority, parsePriority } from "../../src/inference/priority.ts";

function rejectionOf(value: unknown, field?: string): ModelMoraError {
  let thrown: unknown;
  try {
    parsePriority(value, field);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ModelMoraError);
  return thrown as ModelMoraError;
}

describe("priority levels", () => {
  test("levels follow Triton: CRITICAL 1 is the highest, LOW 4 the lowest", () => {
    expect(Priority).toEqual({ CRITICAL: 1, HIGH: 2, NORMAL: 3, LOW: 4 });
    expect(Priority.CRITICAL).toBeLessThan(Priority.HIGH);
    expect(Priority.HIGH).toBeLessThan(Priority.NORMAL);
    expect(Priority.NORMAL).toBeLessThan(Priority.LOW);
  });
});

describe("parsePriority accepts", () => {
  test.each([undefined, null, ""])("a request naming no priority (%p) gets NORMAL", (value) => {
    expect(parsePriority(value)).toBe(Priority.NORMAL);
  });

  test.each([1, 2, 3, 4])("the number %p as itself", (value) => {
    expect(parsePriority(value)).toBe(value as Priority);
  });

  test.each([["1", 1], ["2", 2], ["3", 3], ["4", 4], ["01", 1]] as const)("the numeric string %p as %p (header values)", (value, expected) => {
    expect(parsePriority(value)).toBe(expected);
  });

  test.each([
    ["critical", 1],
    ["high", 2],
    ["normal", 3],
    ["low", 4],
    ["CRITICAL", 1],
    ["High", 2],
    ["LoW", 4],
  ] as const)("the name %p, case-insensitively, as %p", (value, expected) => {
    expect(parsePriority(value)).toBe(expected);
  });
});

describe("parsePriority rejects with INVALID_INPUT", () => {
  // Each value wrapped in its own row: test.each would spread a bare array like [1] into arguments.
  const invalid: unknown[] = [0, 5, -1, 2.5, Number.NaN, "0", "5", "-1", "1.0", " 1", "urgent", "highest", true, {}, [1]];
  test.each(invalid.map((value) => [value]))("%p", (value) => {
    const error = rejectionOf(value);
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.details).toEqual({ field: "priority" });
    expect(error.message).toContain("priority");
  });

  test.each(["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"])(
    "the Object.prototype member name %p, which is not a priority name",
    (value) => {
      expect(rejectionOf(value).code).toBe("INVALID_INPUT");
    },
  );

  test("the rejection names the field the caller read it from", () => {
    const error = rejectionOf("urgent", "parameters.priority");
    expect(error.details).toEqual({ field: "parameters.priority" });
    expect(error.message.startsWith("parameters.priority")).toBe(true);
    expect(error.message).toContain('"urgent"');
  });
});
