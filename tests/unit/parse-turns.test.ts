/**
 * The REST routes' turns: a body's declared length reaches the admission gate as its read turn's
 * weight (the read-ahead budget counts it); a body without one weighs 0. The inference service is
 * injected as a fake that records what it was asked.
 */
import { expect, test } from "bun:test";
import { FREE_PASS } from "../../src/inference/admission-gate.ts";
import { parseTurns } from "../../src/api/rest/parse-turns.ts";

function recordingService() {
  const asked: { model: string; bodyBytes: number | undefined }[] = [];
  return {
    asked,
    turn: async (model: string, _version: string | undefined, _priority: unknown, _signal?: AbortSignal, bodyBytes?: number) => {
      asked.push({ model, bodyBytes });
      return FREE_PASS;
    },
  };
}

test("the declared content-length is the read turn's weight, and the body is parsed from its bytes", async () => {
  const service = recordingService();
  const body = "x".repeat(1234);
  const request = new Request("http://localhost/api/v1/infer/m", { method: "POST", body, headers: { "content-length": String(body.length) } });
  const parsed = await parseTurns(service).read(request, "m", undefined, (bytes) => bytes.byteLength);
  expect(parsed).toBe(1234);
  expect(service.asked).toEqual([{ model: "m", bodyBytes: 1234 }]);
});

test("a body with no declared length (chunked) weighs 0", async () => {
  const service = recordingService();
  const request = new Request("http://localhost/api/v1/infer/m", { method: "POST", body: "abc" });
  request.headers.delete("content-length");
  await parseTurns(service).read(request, "m", undefined, (bytes) => bytes.byteLength);
  expect(service.asked).toEqual([{ model: "m", bodyBytes: 0 }]);
});
