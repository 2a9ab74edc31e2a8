/**
 * JSON tensors (KServe v2 `{ name, shape, datatype, data }`) ↔ wire tensors (typed arrays),
 * validated against the model's declared signature. Every rejection is INVALID_INPUT and names
 * the offending field, e.g. `inputs[0].shape`.
 */
import { invalidInput } from "../errors.ts";
import { DATATYPES, type Datatype, type TensorSpec } from "./tensor-spec.ts";
import type { TensorData, WireTensor } from "../../workers/protocol.ts";
import { fromRawBytes } from "./raw-tensor.ts";

export interface JsonTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown;
  parameters?: Record<string, unknown>;
}

/** A tensor whose elements arrive as raw bytes (KServe binary extension, gRPC raw contents). */
export interface RawTensor {
  name: string;
  shape: number[];
  datatype: string;
  raw: Uint8Array;
}

export type InputTensor = JsonTensor | RawTensor;

export interface JsonOutputTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  data: (number | boolean | string)[];
}

const INTEGER_RANGES: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
};

/** Checks `tensors` against the model's inputs and converts them for the worker. */
export function decodeInputs(tensors: InputTensor[], specs: TensorSpec[]): WireTensor[] {
  if (tensors.length === 0) throw invalidInput("inputs must not be empty", { field: "inputs" });
  const seen = new Set<string>();
  const decoded = tensors.map((tensor, index) => {
    const field = `inputs[${index}]`;
    const spec = specs.find((candidate) => candidate.name === tensor.name);
    if (!spec) {
      throw invalidInput(`${field}.name: model has no input "${tensor.name}"; expected one of ${specs.map((s) => s.name).join(", ")}`, {
        field: `${field}.name`,
      });
    }
    if (seen.has(tensor.name)) throw invalidInput(`${field}.name: input "${tensor.name}" is given twice`, { field: `${field}.name` });
    seen.add(tensor.name);
    return decodeTensor(tensor, spec, field);
  });
  const missing = specs.filter((spec) => !seen.has(spec.name)).map((spec) => spec.name);
  if (missing.length > 0) throw invalidInput(`inputs: missing input(s) ${missing.join(", ")}`, { field: "inputs", missing });
  return decoded;
}

function decodeTensor(tensor: InputTensor, spec: TensorSpec, field: string): WireTensor {
  if (!(DATATYPES as readonly string[]).includes(tensor.datatype)) {
    throw invalidInput(`${field}.datatype: unknown datatype "${tensor.datatype}"`, { field: `${field}.datatype` });
  }
  if (tensor.datatype !== spec.datatype) {
    throw invalidInput(`${field}.datatype: input "${spec.name}" expects ${spec.datatype}, got ${tensor.datatype}`, { field: `${field}.datatype` });
  }
  checkShape(tensor.shape, spec, `${field}.shape`);
  const elementCount = tensor.shape.reduce((product, dimension) => product * dimension, 1);
  if ("raw" in tensor) return { name: spec.name, datatype: spec.datatype, shape: [...tensor.shape], data: fromRawBytes(tensor.raw, spec.datatype, elementCount, field) };
  if (!Array.isArray(tensor.data)) throw invalidInput(`${field}.data: expected an array of elements`, { field: `${field}.data` });
  const flat = flatten(tensor.data);
  if (flat.length !== elementCount) {
    throw invalidInput(`${field}.data: shape [${tensor.shape.join(", ")}] needs ${elementCount} elements, got ${flat.length}`, {
      field: `${field}.data`,
    });
  }
  return { name: spec.name, datatype: spec.datatype, shape: [...tensor.shape], data: toTypedData(flat, spec.datatype, `${field}.data`) };
}

function checkShape(shape: number[], spec: TensorSpec, field: string): void {
  if (!shape.every((dimension) => Number.isInteger(dimension) && dimension >= 0)) {
    throw invalidInput(`${field}: dimensions must be non-negative integers`, { field });
  }
  if (shape.length !== spec.shape.length) {
    throw invalidInput(`${field}: input "${spec.name}" has rank ${spec.shape.length} ([${spec.shape.join(", ")}]), got rank ${shape.length}`, {
      field,
    });
  }
  spec.shape.forEach((expected, axis) => {
    if (expected >= 0 && shape[axis] !== expected) {
      throw invalidInput(`${field}: dimension ${axis} of input "${spec.name}" must be ${expected} ([${spec.shape.join(", ")}]), got ${shape[axis]}`, {
        field,
      });
    }
  });
}

/** KServe allows row-major nested arrays as well as flat ones. */
function flatten(data: unknown[]): unknown[] {
  return Array.isArray(data[0]) || data.some(Array.isArray) ? data.flat(Number.POSITIVE_INFINITY) : data;
}

function toTypedData(values: unknown[], datatype: Datatype, field: string): TensorData {
  switch (datatype) {
    case "BOOL":
      return Uint8Array.from(values, (value, index) => {
        if (typeof value === "boolean") return value ? 1 : 0;
        throw elementError(field, index, "a boolean", value);
      });
    case "BYTES":
      return values.map((value, index) => {
        if (typeof value === "string") return value;
        throw elementError(field, index, "a string", value);
      });
    case "FP16":
      return Uint16Array.from(values, (value, index) => toHalfBits(finiteOrSpecial(value, field, index)));
    case "FP32":
      return fillFloats(new Float32Array(values.length), values, field);
    case "FP64":
      return fillFloats(new Float64Array(values.length), values, field);
    case "INT64":
      return BigInt64Array.from(values, (value, index) => toBigInt(value, field, index, -(2n ** 63n), 2n ** 63n - 1n));
    case "UINT64":
      return BigUint64Array.from(values, (value, index) => toBigInt(value, field, index, 0n, 2n ** 64n - 1n));
    default: {
      const [minimum, maximum] = INTEGER_RANGES[datatype]!;
      const integers = values.map((value, index) => {
        if (typeof value === "number" && Number.isInteger(value) && value >= minimum && value <= maximum) return value;
        throw elementError(field, index, `an integer in ${minimum}..${maximum}`, value);
      });
      return typedArrayFor(datatype, integers);
    }
  }
}

function typedArrayFor(datatype: Datatype, values: number[]): TensorData {
  switch (datatype) {
    case "UINT8":
      return Uint8Array.from(values);
    case "UINT16":
      return Uint16Array.from(values);
    case "UINT32":
      return Uint32Array.from(values);
    case "INT8":
      return Int8Array.from(values);
    case "INT16":
      return Int16Array.from(values);
    default:
      return Int32Array.from(values);
  }
}

/** The hot path for float tensors: a plain loop, no per-element callback. */
function fillFloats<T extends Float32Array | Float64Array>(target: T, values: unknown[], field: string): T {
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    target[index] = typeof value === "number" ? value : finiteOrSpecial(value, field, index);
  }
  return target;
}

/** Numbers, plus the strings "NaN", "Infinity", "-Infinity" that JSON cannot carry as numbers. */
function finiteOrSpecial(value: unknown, field: string, index: number): number {
  if (typeof value === "number") return value;
  if (value === "NaN" || value === "Infinity" || value === "-Infinity") return Number(value);
  throw elementError(field, index, "a number", value);
}

function toBigInt(value: unknown, field: string, index: number, minimum: bigint, maximum: bigint): bigint {
  let result: bigint | undefined;
  if (typeof value === "number" && Number.isSafeInteger(value)) result = BigInt(value);
  else if (typeof value === "string" && /^-?\d+$/.test(value)) result = BigInt(value);
  if (result === undefined || result < minimum || result > maximum) throw elementError(field, index, `an integer in ${minimum}..${maximum}`, value);
  return result;
}

function elementError(field: string, index: number, expected: string, value: unknown) {
  return invalidInput(`${field}[${index}]: expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`, { field, index });
}

/** Worker outputs → JSON tensors. INT64 beyond 2^53 loses precision, as in every JSON KServe server. */
export function encodeOutputs(tensors: WireTensor[]): JsonOutputTensor[] {
  return tensors.map((tensor) => ({ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: toJsonData(tensor) }));
}

function toJsonData(tensor: WireTensor): (number | boolean | string)[] {
  const { data, datatype } = tensor;
  if (Array.isArray(data)) return data;
  if (datatype === "BOOL") return Array.from(data as Uint8Array, (value) => value !== 0);
  if (datatype === "FP16") return Array.from(data as Uint16Array, fromHalfBits);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (value) => Number(value));
  return Array.from(data as Float32Array);
}

const halfScratch = new Float32Array(1);
const halfScratchBits = new Uint32Array(halfScratch.buffer);

/** IEEE 754 binary32 → binary16 bits, rounding to nearest even. */
export function toHalfBits(value: number): number {
  halfScratch[0] = value;
  const bits = halfScratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const rounded = (mantissa + (1 << (shift - 1)) - 1 + ((mantissa >>> shift) & 1)) >>> shift;
    return sign | rounded;
  }
  const rounded = (mantissa + 0xfff + ((mantissa >>> 13) & 1)) >>> 13;
  return (sign | (halfExponent << 10)) + rounded;
}

export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
