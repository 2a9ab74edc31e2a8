/**
 * Client-facing errors carry no absolute paths of the server and no cache hashes the client did
 * not send: a model onnxruntime refuses (its message names the file it opened), a checksum
 * mismatch (which used to return the file's real sha256), over REST and gRPC's mapping alike.
 */
import { describe, expect, test } from "bun:test";
import path from "node:path";
import { toServiceError } from "../../src/api/grpc/status-mapping.ts";
import { ModelMoraError } from "../../src/errors.ts";
import { redactForClient } from "../../src/security/redact.ts";
import { encodeModel, tensor } from "../fixtures/onnx-builder.ts";
import { callApp, startCore } from "../support/core-fixture.ts";

const HEX64 = /[0-9a-f]{64}/;

describe("redactForClient", () => {
  test("cache paths anywhere, other absolute paths in worker messages, hashes not sent, details.actual", () => {
    const sha = "ab".repeat(32);
    const redacted = redactForClient(
      new ModelMoraError("MODEL_LOAD_FAILED", `Load model from /srv/data/models/isolated/${sha}/model.onnx failed: cannot open /etc/modelmora/x.bin`, { actual: sha, path: "/srv" }),
    );
    expect(redacted.message).toBe("Load model from <model file> failed: cannot open <path>");
    expect(redacted.details).toEqual({});
    const mismatch = redactForClient(new ModelMoraError("CHECKSUM_MISMATCH", `sha256 of /u/m.onnx is ${sha}, not the expected ${"0".repeat(64)}`, { expected: "0".repeat(64), actual: sha }));
    expect(mismatch.message).toBe(`sha256 of /u/m.onnx is <sha256>, not the expected ${"0".repeat(64)}`);
    expect(mismatch.details).toEqual({ expected: "0".repeat(64) });
  });

  test("leaves route paths and ordinary messages alone", () => {
    const route = new ModelMoraError("ROUTE_NOT_FOUND", "no route for GET /api/v1/nothing");
    expect(redactForClient(route)).toBe(route);
    const input = new ModelMoraError("INVALID_INPUT", "inputs[0].shape: wrong rank", { field: "inputs[0].shape" });
    expect(redactForClient(input)).toBe(input);
  });

  test("gRPC's mapping redacts too", () => {
    const error = toServiceError(new ModelMoraError("MODEL_LOAD_FAILED", "Load model from /data/models/isolated/x/model.onnx failed"));
    expect(error.details).toBe("Load model from <model file> failed");
  });
});

test("over REST, a model onnxruntime refuses and a checksum mismatch answer without server paths or the real hash", async () => {
  await using fixture = await startCore();
  const { app } = fixture.core;
  const invalid = path.join(path.dirname(fixture.fixtures.add), "unknown-op.onnx");
  await Bun.write(invalid, encodeModel({ name: "bad", inputs: [tensor("x", "float32", [1])], outputs: [tensor("y", "float32", [1])], nodes: [{ opType: "NoSuchOperator", inputs: ["x"], outputs: ["y"] }] }));
  const refused = await callApp(app, "POST", "/api/v1/models", { name: "bad", version: "1", task: "tensor", source: invalid });
  expect(refused.status).toBe(422);
  expect(refused.body.code).toBe("MODEL_LOAD_FAILED");
  const text = JSON.stringify(refused.body);
  expect(text).toContain("<model file>");
  expect(text).not.toContain(fixture.dataDir);
  expect(text).not.toMatch(HEX64);

  const mismatch = await callApp(app, "POST", "/api/v1/models", { name: "m", version: "1", task: "tensor", source: fixture.fixtures.add, sha256: "0".repeat(64) });
  expect(mismatch.status).toBe(400);
  expect(mismatch.body.code).toBe("CHECKSUM_MISMATCH");
  expect(mismatch.body.details).toEqual({ expected: "0".repeat(64) });
  const actual = new Bun.CryptoHasher("sha256").update(await Bun.file(fixture.fixtures.add).bytes()).digest("hex");
  expect(JSON.stringify(mismatch.body)).not.toContain(actual);
}, 60_000);
