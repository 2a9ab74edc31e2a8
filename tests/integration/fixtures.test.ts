/**
 * Pins the generated fixture models: onnxruntime-node loads each one with the declared signature and
 * computes what its pure-JS reference computes; the corrupt fixture fails to load.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as ort from "onnxruntime-node";
import {
  type FixtureModels,
  referenceAdd,
  referenceFixedShape,
  referenceMatmulRelu,
  referenceTwoInTwoOut,
  writeFixtureModels,
} from "../fixtures/models.ts";

/**
 * Largest allowed absolute difference between onnxruntime's float32 output and the JS reference.
 * Inputs and weights are multiples of 1/8 and 1/4, so results are exact; the tolerance only absorbs
 * a different summation order.
 */
const FLOAT_TOLERANCE = 1e-6;

const BATCH = 3;

let directory: string;
let models: FixtureModels;

beforeAll(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), "modelmora-fixtures-"));
  models = await writeFixtureModels(directory);
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** Deterministic float32 values in [-2, 2), multiples of 1/8, with a seed per tensor. */
function floats(length: number, seed: number): Float32Array {
  return Float32Array.from({ length }, (_, index) => (((index * 5 + seed * 3) % 32) - 16) / 8);
}

function signature(metadata: readonly ort.InferenceSession.ValueMetadata[]) {
  return metadata.map((value) =>
    value.isTensor
      ? { name: value.name, type: value.type, shape: [...value.shape] }
      : { name: value.name, type: "non-tensor" },
  );
}

function expectClose(actual: ort.Tensor | undefined, expected: Float32Array, dims: number[]): void {
  expect(actual?.type).toBe("float32");
  expect(actual?.dims).toEqual(dims);
  const data = actual?.data as Float32Array;
  expect(data.length).toBe(expected.length);
  for (let index = 0; index < expected.length; index++) {
    expect(Math.abs(data[index]! - expected[index]!)).toBeLessThanOrEqual(FLOAT_TOLERANCE);
  }
}

async function load(modelPath: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelPath);
}

describe("generated fixture models", () => {
  test("writes every fixture to an absolute path inside the given directory", () => {
    for (const modelPath of Object.values(models)) {
      expect(path.isAbsolute(modelPath)).toBe(true);
      expect(path.dirname(modelPath)).toBe(path.resolve(directory));
    }
  });

  test("add declares a and b [batch,4] and sums them element-wise", async () => {
    const session = await load(models.add);
    expect(signature(session.inputMetadata)).toEqual([
      { name: "a", type: "float32", shape: ["batch", 4] },
      { name: "b", type: "float32", shape: ["batch", 4] },
    ]);
    expect(signature(session.outputMetadata)).toEqual([
      { name: "sum", type: "float32", shape: ["batch", 4] },
    ]);

    const a = floats(BATCH * 4, 1);
    const b = floats(BATCH * 4, 2);
    const result = await session.run({
      a: new ort.Tensor("float32", a, [BATCH, 4]),
      b: new ort.Tensor("float32", b, [BATCH, 4]),
    });
    expectClose(result.sum, referenceAdd(a, b), [BATCH, 4]);
    await session.release();
  });

  test("matmulRelu declares x [batch,8] → y [batch,4] and applies Relu(x·W + bias)", async () => {
    const session = await load(models.matmulRelu);
    expect(signature(session.inputMetadata)).toEqual([
      { name: "x", type: "float32", shape: ["batch", 8] },
    ]);
    expect(signature(session.outputMetadata)).toEqual([
      { name: "y", type: "float32", shape: ["batch", 4] },
    ]);

    const x = floats(BATCH * 8, 3);
    const expected = referenceMatmulRelu(x, BATCH);
    // The reference must exercise both sides of the Relu for this test to mean anything.
    expect(expected.some((value) => value === 0)).toBe(true);
    expect(expected.some((value) => value > 0)).toBe(true);

    const result = await session.run({ x: new ort.Tensor("float32", x, [BATCH, 8]) });
    expectClose(result.y, expected, [BATCH, 4]);
    await session.release();
  });

  test("twoInTwoOut adds float(n) to x and squares n as int64", async () => {
    const session = await load(models.twoInTwoOut);
    expect(signature(session.inputMetadata)).toEqual([
      { name: "x", type: "float32", shape: ["batch", 3] },
      { name: "n", type: "int64", shape: ["batch", 3] },
    ]);
    expect(signature(session.outputMetadata)).toEqual([
      { name: "sum", type: "float32", shape: ["batch", 3] },
      { name: "square", type: "int64", shape: ["batch", 3] },
    ]);

    const x = floats(BATCH * 3, 4);
    const n = BigInt64Array.from({ length: BATCH * 3 }, (_, index) => BigInt(index * 3 - 12));
    const expected = referenceTwoInTwoOut(x, n);
    const result = await session.run({
      x: new ort.Tensor("float32", x, [BATCH, 3]),
      n: new ort.Tensor("int64", n, [BATCH, 3]),
    });
    expectClose(result.sum, expected.sum, [BATCH, 3]);
    expect(result.square?.type).toBe("int64");
    expect(result.square?.dims).toEqual([BATCH, 3]);
    expect(Array.from(result.square?.data as BigInt64Array)).toEqual(Array.from(expected.square));
    await session.release();
  });

  test("fixedShape declares x and y as [2,3] with no dynamic dimension and doubles x", async () => {
    const session = await load(models.fixedShape);
    expect(signature(session.inputMetadata)).toEqual([{ name: "x", type: "float32", shape: [2, 3] }]);
    expect(signature(session.outputMetadata)).toEqual([{ name: "y", type: "float32", shape: [2, 3] }]);

    const x = floats(2 * 3, 5);
    const result = await session.run({ x: new ort.Tensor("float32", x, [2, 3]) });
    expectClose(result.y, referenceFixedShape(x), [2, 3]);
    await session.release();
  });

  test("corrupt is rejected by onnxruntime when creating a session", async () => {
    expect(await Bun.file(models.corrupt).exists()).toBe(true);
    await expect(ort.InferenceSession.create(models.corrupt)).rejects.toThrow(/protobuf parsing failed/i);
  });
});
