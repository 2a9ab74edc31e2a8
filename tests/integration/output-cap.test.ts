/**
 * The output cap (MODELMORA_MAX_OUTPUT_MB): a small request to a model that expands it into a 64 MiB
 * answer is refused by the worker with 422 OUTPUT_TOO_LARGE before anything crosses to the server,
 * so the server's memory does not grow with it, and the model goes on serving.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import { LARGE_OUTPUT_BYTES, LARGE_OUTPUT_WIDTH, largeOutputModel } from "../fixtures/large-output.ts";
import { type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";

const MEBIBYTE = 1024 * 1024;
let fixture: CoreFixture;

beforeAll(async () => {
  fixture = await startCore({ maxOutputMb: "16" });
});

afterAll(async () => fixture[Symbol.asyncDispose]());

test("a 4 kB request whose answer would be 64 MiB gets 422 OUTPUT_TOO_LARGE and the server's RSS stays put", async () => {
  const { core, dataDir } = fixture;
  const modelPath = path.join(dataDir, "..", "big-output.onnx");
  await Bun.write(modelPath, largeOutputModel());
  await core.models.register({ name: "expand", version: "1", task: "tensor", source: modelPath, config: {} });
  await core.models.load("expand");
  const body = { inputs: [{ name: "x", shape: [1, LARGE_OUTPUT_WIDTH], datatype: "FP32", data: Array.from({ length: LARGE_OUTPUT_WIDTH }, (_, index) => index) }] };

  Bun.gc(true);
  const before = process.memoryUsage().rss;
  for (let attempt = 0; attempt < 3; attempt++) {
    const answer = await callApp(core.app, "POST", "/api/v1/infer/expand", body);
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ code: "OUTPUT_TOO_LARGE", error: expect.stringContaining(`${LARGE_OUTPUT_BYTES} bytes`) });
  }
  Bun.gc(true);
  expect(process.memoryUsage().rss - before).toBeLessThan(100 * MEBIBYTE);

  // The worker refused the answer, not the model: it is still loaded and serving.
  expect(core.pool.stateOf("expand", "1")).toBe("ready");
  const tooLarge = await core.inference.infer({ model: "expand", inputs: body.inputs, priority: 3 }).catch((error: { code: string }) => error.code);
  expect(tooLarge).toBe("OUTPUT_TOO_LARGE");
});
