/**
 * Outputs written by onnxruntime straight into the output arena (a plan from the previous run with
 * the same input shapes, workers/output-plans.ts): answers equal the reference whether planned or
 * not, and a model whose output shape depends on an input's values (Reshape to a shape given as
 * input) answers every call with its own shape although the input shapes never change — the plan
 * is refused by onnxruntime, dropped, and the batch runs unplanned. Real worker, real onnxruntime.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import type { ServerCore } from "../../src/server.ts";
import { encodeModel, tensor } from "../fixtures/onnx-builder.ts";
import { type CoreFixture, startCore } from "../support/core-fixture.ts";

/** 32,768 floats: a 128 KiB answer, above the size that travels inline in the message. */
const ELEMENTS = 32_768;

let fixture: CoreFixture;
let core: ServerCore;

beforeAll(async () => {
  fixture = await startCore({ standbyWorkers: "0" });
  core = fixture.core;
  const modelPath = path.join(fixture.dataDir, "..", "reshape-by-value.onnx");
  await Bun.write(
    modelPath,
    encodeModel({
      name: "reshape_by_value",
      inputs: [tensor("x", "float32", ["n"]), tensor("s", "int64", [2])],
      outputs: [tensor("y", "float32", ["rows", "columns"])],
      // target = s + [1, -1]: the load's health check feeds s = [0, 0], which must reshape to [1, n].
      nodes: [
        { opType: "Add", inputs: ["s", "base"], outputs: ["target"] },
        { opType: "Reshape", inputs: ["x", "target"], outputs: ["y"] },
      ],
      initializers: [{ name: "base", elementType: "int64", dims: [2], values: [1, -1] }],
    }),
  );
  await core.models.register({ name: "reshape", version: "1", task: "tensor", source: modelPath, config: {} });
  await core.models.load("reshape");
});

afterAll(async () => {
  await fixture[Symbol.asyncDispose]();
});

test("an output shape that changes with the input's values, at fixed input shapes, is each call's own", async () => {
  const shapes = [
    [2, 16_384],
    [2, 16_384],
    [4, 8_192],
    [8, 4_096],
    [2, 16_384],
    [4, 8_192],
  ];
  for (const [call, shape] of shapes.entries()) {
    const x = Float32Array.from({ length: ELEMENTS }, (_, element) => element * 0.5 + call);
    const answer = await core.inference.infer({
      model: "reshape",
      priority: 3,
      inputs: [
        { name: "x", shape: [ELEMENTS], datatype: "FP32", data: Array.from(x) },
        { name: "s", shape: [2], datatype: "INT64", data: [shape[0]! - 1, shape[1]! + 1] },
      ],
    });
    expect(answer.outputs[0]!.shape).toEqual(shape);
    // Reshape keeps the values in order: the reference is x itself.
    expect(answer.outputs[0]!.data).toEqual(Array.from(x));
  }
});
