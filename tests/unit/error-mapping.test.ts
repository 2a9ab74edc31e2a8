/**
 * Pins the one REST mapping of domain error codes: every code has an HTTP status, the body is
 * `{ error, code, details? }` with no stack trace, and overload errors carry a Retry-After hint.
 */
import { describe, expect, test } from "bun:test";
import { HTTP_STATUS, errorResponse } from "../../src/api/rest/error-mapping.ts";
import { ERROR_CODES, type ErrorCode, ModelMoraError } from "../../src/errors.ts";

async function bodyOf(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

describe("every error code has an HTTP status", () => {
  test.each([...ERROR_CODES])("%s maps to a 4xx or 5xx status", (code) => {
    const status = HTTP_STATUS[code];
    expect(Number.isInteger(status)).toBe(true);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThanOrEqual(599);
    expect(errorResponse(new ModelMoraError(code, "x")).status).toBe(status);
  });

  test("the table has no codes beyond ERROR_CODES", () => {
    expect(Object.keys(HTTP_STATUS).sort()).toEqual([...ERROR_CODES].sort());
  });
});

describe("specific statuses", () => {
  test.each([
    ["MODEL_NOT_FOUND", 404],
    ["MODEL_ALREADY_EXISTS", 409],
    ["INVALID_INPUT", 400],
    ["PAYLOAD_TOO_LARGE", 413],
    ["MODEL_LOAD_FAILED", 422],
    ["UNHEALTHY_MODEL", 503],
    ["INFERENCE_FAILED", 500],
    ["INFERENCE_TIMEOUT", 504],
    ["QUEUE_FULL", 429],
    ["INTERNAL", 500],
  ] as [ErrorCode, number][])("%s answers %p", (code, status) => {
    expect(errorResponse(new ModelMoraError(code, "x")).status).toBe(status);
  });

  test("a full queue is 429 with a Retry-After hint in whole seconds", () => {
    const response = errorResponse(new ModelMoraError("QUEUE_FULL", "queue for model \"m\" is full"));
    expect(response.status).toBe(429);
    const retryAfter = response.headers.get("retry-after");
    expect(retryAfter).not.toBeNull();
    expect(retryAfter!).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  test("errors that retrying cannot fix carry no Retry-After", () => {
    for (const code of ["MODEL_NOT_FOUND", "INVALID_INPUT", "INFERENCE_FAILED", "INTERNAL"] as const) {
      expect(errorResponse(new ModelMoraError(code, "x")).headers.get("retry-after")).toBeNull();
    }
  });
});

describe("the response body", () => {
  test("is JSON { error, code, details } with the message and details of the error", async () => {
    const response = errorResponse(new ModelMoraError("INVALID_INPUT", "inputs[0].shape: wrong rank", { field: "inputs[0].shape" }));
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await bodyOf(response)).toEqual({
      error: "inputs[0].shape: wrong rank",
      code: "INVALID_INPUT",
      details: { field: "inputs[0].shape" },
    });
  });

  test("leaves details out when the error has none", async () => {
    const body = await bodyOf(errorResponse(new ModelMoraError("MODEL_NOT_FOUND", 'model "m" is not registered')));
    expect(body).toEqual({ error: 'model "m" is not registered', code: "MODEL_NOT_FOUND" });
    expect("details" in body).toBe(false);
  });

  test.each([...ERROR_CODES])("for %s carries only error, code and details, and no stack trace", async (code) => {
    const error = new ModelMoraError(code, "something went wrong", { reason: "r" });
    expect(error.stack).toBeDefined();
    const text = await errorResponse(error).text();
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["code", "details", "error"]);
    expect(body.code).toBe(code);
    expect(text).not.toContain("stack");
    expect(text).not.toContain(error.stack!.split("\n")[1]!.trim());
    expect(text).not.toMatch(/\bat .*:\d+:\d+/);
  });
});
