/**
 * The per-model `enableCpuMemArena` setting: validated like every config key, stored with the model,
 * and a model with the arena off loads and answers correctly (the worker opens its session with it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { referenceAdd } from "../fixtures/models.ts";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";

let fixture: CoreFixture;

beforeAll(async () => {
  fixture = await startCore();
});

afterAll(async () => fixture[Symbol.asyncDispose]());

test("a model registered with enableCpuMemArena false keeps the setting and serves correct answers", async () => {
  const { core, fixtures } = fixture;
  const registered = await callApp(core.app, "POST", "/api/v1/models", { name: "no-arena", source: fixtures.add, config: { enableCpuMemArena: false } });
  expect(registered.status).toBe(201);
  expect(registered.body.config.enableCpuMemArena).toBe(false);
  const a = [1, 2, 3, 4];
  const b = [0.5, 0.5, 0.5, 0.5];
  const answer = await callApp(core.app, "POST", "/api/v1/infer/no-arena", {
    inputs: [
      { name: "a", shape: [1, 4], datatype: "FP32", data: a },
      { name: "b", shape: [1, 4], datatype: "FP32", data: b },
    ],
  });
  expect(answer.status).toBe(200);
  expect(answer.body.outputs[0].data).toEqual(Array.from(referenceAdd(Float32Array.from(a), Float32Array.from(b))));
  expect((await callApp(core.app, "GET", "/api/v1/models/no-arena")).body.config.enableCpuMemArena).toBe(false);
});

test("enableCpuMemArena must be a boolean", async () => {
  const answer = await callApp(fixture.core.app, "PUT", "/api/v1/models/no-arena", { config: { enableCpuMemArena: "no" } });
  expect(answer.status).toBe(400);
  expect(answer.body.code).toBe("INVALID_INPUT");
});
