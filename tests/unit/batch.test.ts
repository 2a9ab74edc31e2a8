/**
 * Pins the worker's batch assembly: concatenating request inputs along dim 0 and splitting outputs back
 * gives every request exactly its own rows, in every wire representation, with independent buffers.
 * Values are copied, never computed, so comparisons are exact (no float tolerance needed).
 */
import { describe, expect, test } from "bun:test";
import { concatenateItems, splitOutputs } from "../../workers/batch.ts";
import type { Datatype, TensorData, WireTensor } from "../../workers/protocol.ts";

const ROWS = [1, 3, 2];

/** `count` distinct elements in the wire representation of `datatype`, starting at `seed`. */
function sample(datatype: Datatype, count: number, seed: number): TensorData {
  const values = Array.from({ length: count }, (_, i) => seed + i);
  switch (datatype) {
    case "FP32":
      return Float32Array.from(values, (v) => v + 0.5);
    case "FP64":
      return Float64Array.from(values, (v) => v + 0.25);
    case "INT32":
      return Int32Array.from(values, (v) => -v);
    case "INT64":
      return BigInt64Array.from(values, (v) => BigInt(v) * 10_000_000_000n);
    case "BOOL":
      return Uint8Array.from(values, (v) => v % 2);
    case "FP16":
      return Uint16Array.from(values, (v) => 0x3c00 + v); // half bits: 1.0 and up
    case "BYTES":
      return values.map((v) => `s${v}`);
    default:
      throw new Error(`no sample for ${datatype}`);
  }
}

function tensor(name: string, datatype: Datatype, shape: number[], seed: number): WireTensor {
  const count = shape.reduce((a, b) => a * b, 1);
  return { name, datatype, shape, data: sample(datatype, count, seed) };
}

/** One item per entry of `rows`, each with the given inputs (row shape after dim 0), seeded apart. */
function items(rows: number[], inputs: Array<[string, Datatype, number[]]>): WireTensor[][] {
  return rows.map((r, i) => inputs.map(([name, datatype, rowShape], j) => tensor(name, datatype, [r, ...rowShape], 1000 * i + 100 * j)));
}

/** Runs the batch as a model whose outputs equal its inputs, renamed. */
function identityModel(inputs: WireTensor[]): WireTensor[] {
  return inputs.map((input) => ({ ...input, name: `${input.name}_out` }));
}

function expectSameTensor(actual: WireTensor, expected: WireTensor): void {
  expect(actual.datatype).toBe(expected.datatype);
  expect(actual.shape).toEqual(expected.shape);
  expect(actual.data.constructor).toBe(expected.data.constructor);
  expect(Array.from(actual.data as ArrayLike<unknown>)).toEqual(Array.from(expected.data as ArrayLike<unknown>));
}

function expectRoundTrip(batch: WireTensor[][]): void {
  const { inputs, rowsPerItem } = concatenateItems(batch);
  expect(rowsPerItem).toEqual(batch.map((item) => item[0]!.shape[0]!));
  const perItem = splitOutputs(identityModel(inputs), rowsPerItem);
  expect(perItem).toHaveLength(batch.length);
  perItem.forEach((outputs, i) => {
    expect(outputs.map((o) => o.name)).toEqual(batch[i]!.map((t) => `${t.name}_out`));
    outputs.forEach((output, j) => expectSameTensor(output, batch[i]![j]!));
  });
}

describe("concatenate then split returns each item its own rows", () => {
  const families: Array<[Datatype, string]> = [
    ["FP32", "Float32Array"],
    ["FP64", "Float64Array"],
    ["INT32", "Int32Array"],
    ["INT64", "BigInt64Array"],
    ["BOOL", "Uint8Array"],
    ["FP16", "Uint16Array"],
    ["BYTES", "Array"],
  ];

  for (const [datatype, arrayType] of families) {
    test(`${datatype} as ${arrayType}, items of 1, 3 and 2 rows`, () => {
      const batch = items(ROWS, [["x", datatype, [4]]]);
      const { inputs } = concatenateItems(batch);
      expect(inputs[0]!.data.constructor.name).toBe(arrayType);
      expect(inputs[0]!.shape).toEqual([6, 4]);
      expectRoundTrip(batch);
    });
  }

  test("concatenation lays items back to back in item order", () => {
    const batch = items(ROWS, [["x", "FP32", [2]]]);
    const { inputs } = concatenateItems(batch);
    const expected = batch.flatMap((item) => Array.from(item[0]!.data as Float32Array));
    expect(Array.from(inputs[0]!.data as Float32Array)).toEqual(expected);
  });

  test("several inputs of different datatypes and ranks", () => {
    expectRoundTrip(
      items(ROWS, [
        ["input_ids", "INT64", [7]],
        ["attention_mask", "BOOL", [7]],
        ["pixel_values", "FP32", [3, 4, 5]],
        ["prompt", "BYTES", []],
      ]),
    );
  });

  test("2-D and 4-D tensors", () => {
    const batch = items(ROWS, [
      ["features", "FP32", [8]],
      ["image", "FP32", [3, 2, 2]],
    ]);
    const { inputs } = concatenateItems(batch);
    expect(inputs.map((input) => input.shape)).toEqual([
      [6, 8],
      [6, 3, 2, 2],
    ]);
    expectRoundTrip(batch);
  });

  test("inputs are matched by name when items list them in different orders", () => {
    const batch = items([2, 1], [
      ["a", "FP32", [2]],
      ["b", "INT32", [3]],
    ]);
    const reordered = [batch[0]!, [...batch[1]!].reverse()];
    const { inputs } = concatenateItems(reordered);
    expect(inputs.map((input) => input.name)).toEqual(["a", "b"]);
    expect(Array.from(inputs[1]!.data as Int32Array)).toEqual([
      ...Array.from(batch[0]![1]!.data as Int32Array),
      ...Array.from(batch[1]![1]!.data as Int32Array),
    ]);
  });

  test("an item with zero rows gets an empty output", () => {
    const batch = items([2, 0, 1], [["x", "FP32", [3]]]);
    const { rowsPerItem, inputs } = concatenateItems(batch);
    expect(rowsPerItem).toEqual([2, 0, 1]);
    const perItem = splitOutputs(inputs, rowsPerItem);
    expect(perItem[1]![0]!.shape).toEqual([0, 3]);
    expect(perItem[1]![0]!.data.length).toBe(0);
    expectRoundTrip(batch);
  });

  test("an output that keeps only the batch dimension is split by rows", () => {
    const batch = items(ROWS, [["x", "FP32", [4]]]);
    const { rowsPerItem } = concatenateItems(batch);
    const scores: WireTensor = { name: "score", datatype: "FP32", shape: [6], data: Float32Array.from([0, 1, 2, 3, 4, 5]) };
    const perItem = splitOutputs([scores], rowsPerItem);
    expect(perItem.map((outputs) => Array.from(outputs[0]!.data as Float32Array))).toEqual([[0], [1, 2, 3], [4, 5]]);
    expect(perItem.map((outputs) => outputs[0]!.shape)).toEqual([[1], [3], [2]]);
  });
});

describe("a single item passes through untouched", () => {
  test("concatenation returns the item's own tensors", () => {
    const [item] = items([3], [["x", "FP32", [4]], ["m", "BOOL", [4]]]);
    const { inputs, rowsPerItem } = concatenateItems([item!]);
    expect(inputs).toBe(item!);
    expect(inputs[0]!.data).toBe(item![0]!.data);
    expect(rowsPerItem).toEqual([3]);
  });

  test("splitting returns the outputs themselves, even when not batch-aligned", () => {
    const outputs = [tensor("y", "FP32", [5, 2], 0)];
    const perItem = splitOutputs(outputs, [3]);
    expect(perItem).toHaveLength(1);
    expect(perItem[0]).toBe(outputs);
  });
});

describe("split outputs are independent copies", () => {
  test("mutating one item's output leaves the batched output and the other items alone", () => {
    const output = tensor("y", "FP32", [6, 2], 0);
    const before = Array.from(output.data as Float32Array);
    const perItem = splitOutputs([output], ROWS);
    const firstData = perItem[0]![0]!.data as Float32Array;
    const secondData = perItem[1]![0]!.data as Float32Array;
    expect(firstData.buffer).not.toBe((output.data as Float32Array).buffer);
    expect(firstData.buffer).not.toBe(secondData.buffer);
    expect(firstData.byteOffset).toBe(0);
    expect(secondData.buffer.byteLength).toBe(secondData.byteLength);

    firstData.fill(-1);
    secondData[0] = 99;
    expect(Array.from(output.data as Float32Array)).toEqual(before);
    expect(Array.from(perItem[2]![0]!.data as Float32Array)).toEqual(before.slice(8, 12));
  });

  test("string outputs are separate arrays", () => {
    const output = tensor("text", "BYTES", [3], 0);
    const perItem = splitOutputs([output], [1, 2]);
    (perItem[1]![0]!.data as string[])[0] = "changed";
    expect(output.data).toEqual(["s0", "s1", "s2"]);
  });

  test("concatenation does not alias any item's buffer", () => {
    const batch = items([1, 2], [["x", "FP32", [2]]]);
    const { inputs } = concatenateItems(batch);
    (inputs[0]!.data as Float32Array).fill(0);
    expect(Array.from(batch[0]![0]!.data as Float32Array)).toEqual([0.5, 1.5]);
  });
});

describe("incompatible items are reported as bugs", () => {
  test("mismatched non-batch dims", () => {
    const batch = [[tensor("x", "FP32", [1, 4], 0)], [tensor("x", "FP32", [2, 5], 0)]];
    expect(() => concatenateItems(batch)).toThrow(/item 1 input "x" has shape \[2, 5\].*this is a bug/);
  });

  test("mismatched rank", () => {
    const batch = [[tensor("x", "FP32", [1, 4], 0)], [tensor("x", "FP32", [1, 4, 1], 0)]];
    expect(() => concatenateItems(batch)).toThrow(/this is a bug/);
  });

  test("mismatched datatype", () => {
    const batch = [[tensor("x", "FP32", [1, 4], 0)], [tensor("x", "FP64", [1, 4], 0)]];
    expect(() => concatenateItems(batch)).toThrow(/item 1 input "x" is FP64.*this is a bug/);
  });

  test("mismatched input names", () => {
    const batch = [[tensor("x", "FP32", [1, 4], 0)], [tensor("z", "FP32", [1, 4], 0)]];
    expect(() => concatenateItems(batch)).toThrow(/item 1 has no input "x"; this is a bug/);
  });

  test("an extra input in a later item", () => {
    const batch = [[tensor("x", "FP32", [1, 4], 0)], [tensor("x", "FP32", [1, 4], 0), tensor("y", "FP32", [1, 4], 0)]];
    expect(() => concatenateItems(batch)).toThrow(/item 1 has 2 inputs, but item 0 has 1; this is a bug/);
  });

  test("inputs of one item disagreeing on dim 0", () => {
    const batch = [
      [tensor("a", "FP32", [1, 2], 0), tensor("b", "FP32", [1, 2], 0)],
      [tensor("a", "FP32", [2, 2], 0), tensor("b", "FP32", [3, 2], 0)],
    ];
    expect(() => concatenateItems(batch)).toThrow(/item 1 input "b" has 3 rows.*this is a bug/);
  });

  test("an empty batch", () => {
    expect(() => concatenateItems([])).toThrow(/this is a bug/);
    expect(() => splitOutputs([], [])).toThrow(/this is a bug/);
  });
});

describe("an output that is not batch-aligned is rejected by name", () => {
  test("dim 0 differs from the batch's total rows", () => {
    const outputs = [tensor("logits", "FP32", [6, 2], 0), tensor("pooled", "FP32", [1, 2], 0)];
    expect(() => splitOutputs(outputs, ROWS)).toThrow("output pooled has 1 rows for a batch of 6; the model is not batch-aligned");
  });

  test("a scalar output", () => {
    const outputs = [tensor("loss", "FP32", [], 0)];
    expect(() => splitOutputs(outputs, ROWS)).toThrow(/output loss .* for a batch of 6; the model is not batch-aligned/);
  });
});
