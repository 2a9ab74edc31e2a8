/**
 * Pins the JSON ↔ wire tensor contract: what decodeInputs accepts against a model's declared inputs,
 * that every rejection is INVALID_INPUT naming the offending field, and how worker outputs become JSON.
 */
import { describe, expect, test } from "bun:test";
import { ModelMoraError } from "../../src/errors.ts";
import { type JsonTensor, decodeInputs, encodeOutputs, fromHalfBits, toHalfBits } from "../../src/inference/tensor-codec.ts";
import type { Datatype, TensorSpec } from "../../src/registry/tensor-spec.ts";

const X: TensorSpec = { name: "x", datatype: "FP32", shape: [-1, 4] };
const MASK: TensorSpec = { name: "mask", datatype: "BOOL", shape: [-1] };

function tensor(overrides: Partial<JsonTensor> = {}): JsonTensor {
  return { name: "x", datatype: "FP32", shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8], ...overrides };
}

/** The ModelMoraError thrown by `action`; fails the test unless it is INVALID_INPUT. */
function invalidInputFrom(action: () => unknown): ModelMoraError {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ModelMoraError);
  const error = thrown as ModelMoraError;
  expect(error.code).toBe("INVALID_INPUT");
  return error;
}

/** Asserts the rejection names `field` both in details.field and at the start of the message. */
function expectRejectionNaming(action: () => unknown, field: string): ModelMoraError {
  const error = invalidInputFrom(action);
  expect(error.details?.field).toBe(field);
  expect(error.message.startsWith(field)).toBe(true);
  return error;
}

/** Decodes a single tensor with the given datatype against a spec of the same datatype and shape [-1]. */
function decodeOne(datatype: Datatype, data: unknown[]) {
  return decodeInputs([{ name: "v", datatype, shape: [data.length], data }], [{ name: "v", datatype, shape: [-1] }])[0]!;
}

describe("decodeInputs accepts tensors matching the declared inputs", () => {
  test("flat FP32 data becomes a Float32Array with the request's shape", () => {
    const [decoded] = decodeInputs([tensor()], [X]);
    expect(decoded!.name).toBe("x");
    expect(decoded!.datatype).toBe("FP32");
    expect(decoded!.shape).toEqual([2, 4]);
    expect(decoded!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(decoded!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("row-major nested data decodes to the same flat tensor as flat data", () => {
    const nested = decodeInputs([tensor({ data: [[1, 2, 3, 4], [5, 6, 7, 8]] })], [X]);
    expect(nested).toEqual(decodeInputs([tensor()], [X]));
  });

  test("deeper nesting flattens fully", () => {
    const spec: TensorSpec = { name: "x", datatype: "FP32", shape: [2, 2, 2] };
    const [decoded] = decodeInputs([{ name: "x", datatype: "FP32", shape: [2, 2, 2], data: [[[1, 2], [3, 4]], [[5, 6], [7, 8]]] }], [spec]);
    expect(Array.from(decoded!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("the output shape is a copy, not the request's array", () => {
    const request = tensor();
    const [decoded] = decodeInputs([request], [X]);
    expect(decoded!.shape).not.toBe(request.shape);
  });

  test("multiple inputs may arrive in any order and keep request order", () => {
    const decoded = decodeInputs(
      [
        { name: "mask", datatype: "BOOL", shape: [2], data: [true, false] },
        tensor(),
      ],
      [X, MASK],
    );
    expect(decoded.map((entry) => entry.name)).toEqual(["mask", "x"]);
  });

  test("a dynamic dimension accepts 0 with empty data", () => {
    const [decoded] = decodeInputs([tensor({ shape: [0, 4], data: [] })], [X]);
    expect((decoded!.data as Float32Array).length).toBe(0);
  });

  test("a scalar (rank 0) holds exactly one element", () => {
    const spec: TensorSpec = { name: "s", datatype: "INT32", shape: [] };
    const [decoded] = decodeInputs([{ name: "s", datatype: "INT32", shape: [], data: [7] }], [spec]);
    expect(Array.from(decoded!.data as Int32Array)).toEqual([7]);
  });

  test('FP32 accepts the strings "NaN", "Infinity", "-Infinity" JSON cannot carry as numbers', () => {
    const values = Array.from(decodeOne("FP32", ["NaN", "Infinity", "-Infinity", 1.5]).data as Float32Array);
    expect(values[0]).toBeNaN();
    expect(values.slice(1)).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5]);
  });

  test("FP64 keeps double precision", () => {
    const decoded = decodeOne("FP64", [0.1, 1 / 3]);
    expect(decoded.data).toBeInstanceOf(Float64Array);
    expect(Array.from(decoded.data as Float64Array)).toEqual([0.1, 1 / 3]);
  });

  test("FP16 values travel as IEEE half bits", () => {
    const decoded = decodeOne("FP16", [1, -2.5]);
    expect(decoded.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(decoded.data as Uint16Array)).toEqual([0x3c00, 0xc100]);
  });

  test.each([
    ["INT8", Int8Array, [-128, 0, 127]],
    ["UINT8", Uint8Array, [0, 255]],
    ["INT16", Int16Array, [-32768, 32767]],
    ["UINT16", Uint16Array, [0, 65535]],
    ["INT32", Int32Array, [-2147483648, 2147483647]],
    ["UINT32", Uint32Array, [0, 4294967295]],
  ] as const)("%s accepts the ends of its range into the matching typed array", (datatype, ArrayType, values) => {
    const decoded = decodeOne(datatype, [...values]);
    expect(decoded.data).toBeInstanceOf(ArrayType);
    expect(Array.from(decoded.data as ArrayLike<number>)).toEqual([...values]);
  });

  test("INT64 accepts safe-integer numbers and decimal digit strings beyond 2^53", () => {
    const decoded = decodeOne("INT64", [-3, 0, 9007199254740991, "9223372036854775807", "-9223372036854775808", "42"]);
    expect(decoded.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(decoded.data as BigInt64Array)).toEqual([-3n, 0n, 9007199254740991n, 9223372036854775807n, -9223372036854775808n, 42n]);
  });

  test("UINT64 accepts up to 2^64 - 1 as a digit string", () => {
    const decoded = decodeOne("UINT64", [0, "18446744073709551615"]);
    expect(decoded.data).toBeInstanceOf(BigUint64Array);
    expect(Array.from(decoded.data as BigUint64Array)).toEqual([0n, 18446744073709551615n]);
  });

  test("BOOL accepts booleans as 0/1 bytes", () => {
    const decoded = decodeOne("BOOL", [true, false, true]);
    expect(decoded.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(decoded.data as Uint8Array)).toEqual([1, 0, 1]);
  });

  test("BYTES accepts strings and keeps them as strings", () => {
    expect(decodeOne("BYTES", ["hello", "", "ünïcode"]).data).toEqual(["hello", "", "ünïcode"]);
  });
});

describe("decodeInputs rejects with INVALID_INPUT naming the offending field", () => {
  test("no inputs at all", () => {
    expectRejectionNaming(() => decodeInputs([], [X]), "inputs");
  });

  test("an input name the model does not have names inputs[i].name and lists the expected names", () => {
    const error = expectRejectionNaming(() => decodeInputs([tensor(), tensor({ name: "y" })], [X]), "inputs[1].name");
    expect(error.message).toContain('"y"');
    expect(error.message).toContain("x");
  });

  test("the same input given twice names the second occurrence", () => {
    const error = expectRejectionNaming(() => decodeInputs([tensor(), tensor()], [X]), "inputs[1].name");
    expect(error.message).toContain("twice");
  });

  test("a declared input left out is listed in details.missing", () => {
    const error = expectRejectionNaming(() => decodeInputs([tensor()], [X, MASK]), "inputs");
    expect(error.details?.missing).toEqual(["mask"]);
    expect(error.message).toContain("mask");
  });

  test("a datatype other than the declared one", () => {
    const error = expectRejectionNaming(() => decodeInputs([tensor({ datatype: "FP64" })], [X]), "inputs[0].datatype");
    expect(error.message).toContain("FP32");
    expect(error.message).toContain("FP64");
  });

  test("a datatype KServe v2 does not define", () => {
    const error = expectRejectionNaming(() => decodeInputs([tensor({ datatype: "FLOAT32" })], [X]), "inputs[0].datatype");
    expect(error.message).toContain("FLOAT32");
  });

  test("a different rank", () => {
    const error = expectRejectionNaming(() => decodeInputs([tensor({ shape: [8] })], [X]), "inputs[0].shape");
    expect(error.message).toContain("rank");
  });

  test("a fixed dimension with another size", () => {
    const error = expectRejectionNaming(() => decodeInputs([tensor({ shape: [4, 2] })], [X]), "inputs[0].shape");
    expect(error.message).toContain("dimension 1");
  });

  test.each([
    [[-1, 4]],
    [[2.5, 4]],
    [[Number.NaN, 4]],
  ])("a negative or non-integer dimension %p", (shape) => {
    expectRejectionNaming(() => decodeInputs([tensor({ shape, data: [] })], [X]), "inputs[0].shape");
  });

  test("data with fewer elements than the shape needs names inputs[i].data with both counts", () => {
    const error = expectRejectionNaming(() => decodeInputs([tensor({ shape: [3, 4] })], [X]), "inputs[0].data");
    expect(error.message).toContain("12");
    expect(error.message).toContain("8");
  });

  test("nested data with too many elements", () => {
    expectRejectionNaming(() => decodeInputs([tensor({ shape: [1, 4], data: [[1, 2, 3, 4], [5]] })], [X]), "inputs[0].data");
  });

  test.each([["a string", "one"], ["null", null], ["a boolean", true], ["an object", { value: 1 }]])(
    "a non-number FP32 element (%s) names the data field and the element index",
    (_label, bad) => {
      const error = expectRejectionNaming(() => decodeInputs([tensor({ data: [1, 2, bad, 4, 5, 6, 7, 8] })], [X]), "inputs[0].data");
      expect(error.details?.index).toBe(2);
      expect(error.message).toContain("inputs[0].data[2]");
    },
  );

  test.each([
    ["INT8", 128],
    ["INT8", -129],
    ["UINT8", 256],
    ["UINT8", -1],
    ["UINT16", 65536],
    ["INT32", 2147483648],
    ["UINT32", -1],
  ] as const)("%s out of range: %p", (datatype, value) => {
    const error = expectRejectionNaming(() => decodeOne(datatype, [0, value]), "inputs[0].data");
    expect(error.details?.index).toBe(1);
  });

  test.each([["INT8", 1.5], ["UINT8", "7"], ["INT32", true]] as const)("%s with a non-integer element %p", (datatype, value) => {
    expectRejectionNaming(() => decodeOne(datatype, [value]), "inputs[0].data");
  });

  test.each([
    ["a fraction", 1.5],
    ["an unsafe integer number", 2 ** 53],
    ["a decimal string", "1.5"],
    ["a non-digit string", "12abc"],
    ["an empty string", ""],
    ["a value above 2^63 - 1", "9223372036854775808"],
    ["a value below -2^63", "-9223372036854775809"],
    ["a boolean", true],
  ])("INT64 rejects %s", (_label, value) => {
    expectRejectionNaming(() => decodeOne("INT64", [value]), "inputs[0].data");
  });

  test("UINT64 rejects negative values", () => {
    expectRejectionNaming(() => decodeOne("UINT64", ["-1"]), "inputs[0].data");
    expectRejectionNaming(() => decodeOne("UINT64", [-1]), "inputs[0].data");
  });

  test.each([[1], [0], ["true"], [null]])("BOOL accepts booleans only, not %p", (value) => {
    expectRejectionNaming(() => decodeOne("BOOL", [true, value]), "inputs[0].data");
  });

  test.each([[1], [null], [false], [{ text: "a" }]])("BYTES accepts strings only, not %p", (value) => {
    expectRejectionNaming(() => decodeOne("BYTES", ["ok", value]), "inputs[0].data");
  });

  test("FP16 rejects non-numbers like FP32", () => {
    expectRejectionNaming(() => decodeOne("FP16", ["1.0"]), "inputs[0].data");
  });

  test("the field index points at the offending input, not the first one", () => {
    expectRejectionNaming(
      () => decodeInputs([tensor(), { name: "mask", datatype: "BOOL", shape: [2], data: [true, 1] }], [X, MASK]),
      "inputs[1].data",
    );
  });
});

describe("encodeOutputs turns worker tensors into JSON tensors", () => {
  test("BOOL bytes become booleans", () => {
    const [output] = encodeOutputs([{ name: "b", datatype: "BOOL", shape: [3], data: Uint8Array.from([1, 0, 2]) }]);
    expect(output).toEqual({ name: "b", datatype: "BOOL", shape: [3], data: [true, false, true] });
  });

  test("INT64 BigInt64Array becomes plain numbers", () => {
    const [output] = encodeOutputs([{ name: "i", datatype: "INT64", shape: [3], data: BigInt64Array.from([-5n, 0n, 9007199254740991n]) }]);
    expect(output!.data).toEqual([-5, 0, 9007199254740991]);
    for (const value of output!.data) expect(typeof value).toBe("number");
  });

  test("UINT64 BigUint64Array becomes plain numbers", () => {
    const [output] = encodeOutputs([{ name: "u", datatype: "UINT64", shape: [1], data: BigUint64Array.from([7n]) }]);
    expect(output!.data).toEqual([7]);
  });

  test("FP16 half bits become floats", () => {
    const [output] = encodeOutputs([{ name: "h", datatype: "FP16", shape: [3], data: Uint16Array.from([0x3c00, 0xc100, 0x7bff]) }]);
    expect(output!.data).toEqual([1, -2.5, 65504]);
  });

  test("FP32 values pass through unchanged", () => {
    const values = [0.5, -1.25, 3];
    const [output] = encodeOutputs([{ name: "y", datatype: "FP32", shape: [3], data: Float32Array.from(values) }]);
    expect(output).toEqual({ name: "y", datatype: "FP32", shape: [3], data: values });
  });

  test("NaN and ±Infinity become the strings inputs accept, in FP32, FP64 and FP16 alike", () => {
    const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5];
    const expected = ["NaN", "Infinity", "-Infinity", 1.5];
    expect(encodeOutputs([{ name: "f", datatype: "FP32", shape: [4], data: Float32Array.from(specials) }])[0]!.data).toEqual(expected);
    expect(encodeOutputs([{ name: "d", datatype: "FP64", shape: [4], data: Float64Array.from(specials) }])[0]!.data).toEqual(expected);
    const halves = Uint16Array.from([0x7e00, 0x7c00, 0xfc00, 0x3e00]);
    expect(encodeOutputs([{ name: "h", datatype: "FP16", shape: [4], data: halves }])[0]!.data).toEqual(expected);
  });

  test("a large FP32 output keeps every value, in order", () => {
    const data = Float32Array.from({ length: 265_000 }, (_, index) => Math.sin(index) * 1e-3);
    const encoded = encodeOutputs([{ name: "y", datatype: "FP32", shape: [1, 40, 6625], data }])[0]!.data as number[];
    expect(encoded).toHaveLength(data.length);
    for (let index = 0; index < data.length; index++) if (encoded[index] !== data[index]) throw new Error(`value ${index}: ${encoded[index]} != ${data[index]}`);
  });

  test("INT32 values pass through as numbers", () => {
    const [output] = encodeOutputs([{ name: "n", datatype: "INT32", shape: [2], data: Int32Array.from([-1, 2]) }]);
    expect(output!.data).toEqual([-1, 2]);
  });

  test("BYTES strings pass through unchanged", () => {
    const [output] = encodeOutputs([{ name: "s", datatype: "BYTES", shape: [2], data: ["a", "b"] }]);
    expect(output!.data).toEqual(["a", "b"]);
  });

  test("every output keeps its name, order and shape", () => {
    const outputs = encodeOutputs([
      { name: "first", datatype: "FP32", shape: [1, 2], data: Float32Array.from([1, 2]) },
      { name: "second", datatype: "INT8", shape: [2, 1], data: Int8Array.from([3, 4]) },
    ]);
    expect(outputs.map(({ name, shape }) => ({ name, shape }))).toEqual([
      { name: "first", shape: [1, 2] },
      { name: "second", shape: [2, 1] },
    ]);
  });
});

describe("half-precision conversion", () => {
  /**
   * Tolerance for a value that survives the round trip through binary16: half an ULP of the result,
   * i.e. a relative 2^-11 for normal halves, and an absolute 2^-25 (half the smallest subnormal step 2^-24)
   * for subnormal ones.
   */
  function halfTolerance(value: number): number {
    return Math.max(Math.abs(value) * 2 ** -11, 2 ** -25);
  }

  test.each([
    ["zero", 0, 0x0000],
    ["one", 1, 0x3c00],
    ["minus two and a half", -2.5, 0xc100],
    ["the largest finite half", 65504, 0x7bff],
    ["the smallest normal half", 2 ** -14, 0x0400],
    ["the smallest subnormal half", 2 ** -24, 0x0001],
    ["infinity", Number.POSITIVE_INFINITY, 0x7c00],
    ["minus infinity", Number.NEGATIVE_INFINITY, 0xfc00],
  ])("%s has the IEEE 754 binary16 bits", (_label, value, bits) => {
    expect(toHalfBits(value)).toBe(bits);
  });

  test.each([
    ["0", 0],
    ["1", 1],
    ["-2.5", -2.5],
    ["65504", 65504],
    ["6e-8 (subnormal)", 6e-8],
    ["0.1", 0.1],
    ["-1000.7", -1000.7],
    ["3.14159", 3.14159],
  ])("%s round-trips within half an ULP", (_label, value) => {
    const back = fromHalfBits(toHalfBits(value));
    expect(Math.abs(back - value)).toBeLessThanOrEqual(halfTolerance(value));
  });

  test("exactly representable values round-trip exactly", () => {
    for (const value of [0, 1, -2.5, 65504, 0.5, -0.25, 1024, 2 ** -14, 2 ** -24]) {
      expect(fromHalfBits(toHalfBits(value))).toBe(value);
    }
  });

  test("-0 keeps its sign", () => {
    expect(toHalfBits(-0)).toBe(0x8000);
    expect(Object.is(fromHalfBits(toHalfBits(-0)), -0)).toBe(true);
  });

  test("6e-8 becomes the smallest subnormal half, 2^-24", () => {
    expect(toHalfBits(6e-8)).toBe(0x0001);
    expect(fromHalfBits(0x0001)).toBe(2 ** -24);
  });

  test("Infinity and -Infinity round-trip", () => {
    expect(fromHalfBits(toHalfBits(Number.POSITIVE_INFINITY))).toBe(Number.POSITIVE_INFINITY);
    expect(fromHalfBits(toHalfBits(Number.NEGATIVE_INFINITY))).toBe(Number.NEGATIVE_INFINITY);
  });

  test("NaN stays NaN", () => {
    const bits = toHalfBits(Number.NaN);
    expect(bits & 0x7c00).toBe(0x7c00);
    expect(bits & 0x03ff).not.toBe(0);
    expect(fromHalfBits(bits)).toBeNaN();
  });

  test("values beyond the half range overflow to infinity with their sign", () => {
    expect(toHalfBits(65520)).toBe(0x7c00); // halfway above 65504 rounds up, to infinity
    expect(toHalfBits(1e6)).toBe(0x7c00);
    expect(toHalfBits(-1e6)).toBe(0xfc00);
  });

  test("values below half the smallest subnormal underflow to signed zero", () => {
    expect(toHalfBits(2 ** -26)).toBe(0x0000);
    expect(toHalfBits(-(2 ** -26))).toBe(0x8000);
  });

  test("ties round to the nearest even half", () => {
    // 1 + 2^-11 is halfway between 1 (even mantissa) and 1 + 2^-10 (odd): rounds down to 1.
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even): rounds up.
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // 2^-25 is halfway between 0 (even) and the smallest subnormal (odd): rounds to 0.
    expect(toHalfBits(2 ** -25)).toBe(0x0000);
    // 3 * 2^-25 is halfway between subnormals 1 (odd) and 2 (even): rounds up to 2.
    expect(toHalfBits(3 * 2 ** -25)).toBe(0x0002);
  });

  test("every finite half survives fromHalfBits → toHalfBits unchanged", () => {
    const changed: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue; // Infinity and NaN payloads
      if (toHalfBits(fromHalfBits(bits)) !== bits) changed.push(bits);
    }
    expect(changed).toEqual([]);
  });
});
