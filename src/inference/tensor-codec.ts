/**
 * Request tensors (KServe v2 JSON `{ name, shape, datatype, data }`, or raw bytes) → the bytes a
 * worker reads, validated against the model's declared signature; worker outputs → JSON tensors.
 * Every rejection is INVALID_INPUT and names the offending field, e.g. `inputs[0].shape`.
 *
 * Decoding is two steps so that nothing is allocated before a request is known to fit:
 * `checkInputs` (names, datatypes, shapes → the block size) and `writeInputs` (elements, one pass,
 * straight into the block, normally in a model's shared-memory arena).
 */
import { invalidInput } from "../errors.ts";
import { DATATYPES, type Datatype, type TensorSpec } from "../registry/tensor-spec.ts";
import { alignUp } from "../../workers/arena.ts";
import { elementBytes, type NumericData, type NumericDatatype, typedView } from "../../workers/datatypes.ts";
import { isShared, type TransportTensor, type WireTensor } from "../../workers/protocol.ts";
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

/** Longest slice of an offending element quoted back in an error. */
const ECHO_LIMIT_CHARACTERS = 64;

/** One input, checked against its spec, with its place in the request's block. */
interface PlannedInput {
  tensor: InputTensor;
  spec: TensorSpec;
  field: string;
  elementCount: number;
  /** Offset within the request's block; undefined for BYTES, which travel inline. */
  blockOffset: number | undefined;
  byteLength: number;
}

/**
 * A request's inputs checked against the model's signature (names, datatypes, shapes; not yet the
 * elements), with the bytes their shared-memory block needs. `write` then fills a block.
 */
export interface CheckedInputs {
  readonly blockBytes: number;
  /** Dim 0 of the first input (the request's rows), or undefined for scalars. */
  readonly rows: number | undefined;
  readonly inputs: readonly PlannedInput[];
}

/**
 * Checks `tensors` against the model's inputs without touching their elements; every rejection is
 * INVALID_INPUT naming the field.
 */
export function checkInputs(tensors: InputTensor[], specs: TensorSpec[]): CheckedInputs {
  if (tensors.length === 0) throw invalidInput("inputs must not be empty", { field: "inputs" });
  const seen = new Set<string>();
  const inputs: PlannedInput[] = [];
  let blockBytes = 0;
  tensors.forEach((tensor, index) => {
    const field = `inputs[${index}]`;
    const spec = specs.find((candidate) => candidate.name === tensor.name);
    if (!spec) {
      throw invalidInput(`${field}.name: model has no input "${tensor.name}"; expected one of ${specs.map((s) => s.name).join(", ")}`, {
        field: `${field}.name`,
      });
    }
    if (seen.has(tensor.name)) throw invalidInput(`${field}.name: input "${tensor.name}" is given twice`, { field: `${field}.name` });
    seen.add(tensor.name);
    if (!(DATATYPES as readonly string[]).includes(tensor.datatype)) {
      throw invalidInput(`${field}.datatype: unknown datatype "${echo(tensor.datatype)}"`, { field: `${field}.datatype` });
    }
    if (tensor.datatype !== spec.datatype) {
      throw invalidInput(`${field}.datatype: input "${spec.name}" expects ${spec.datatype}, got ${tensor.datatype}`, { field: `${field}.datatype` });
    }
    const elementCount = checkShape(tensor.shape, spec, `${field}.shape`);
    if (spec.datatype === "BYTES") {
      inputs.push({ tensor, spec, field, elementCount, blockOffset: undefined, byteLength: 0 });
      return;
    }
    const byteLength = elementCount * elementBytes(spec.datatype);
    inputs.push({ tensor, spec, field, elementCount, blockOffset: blockBytes, byteLength });
    blockBytes += alignUp(byteLength);
  });
  const missing = specs.filter((spec) => !seen.has(spec.name)).map((spec) => spec.name);
  if (missing.length > 0) throw invalidInput(`inputs: missing input(s) ${missing.join(", ")}`, { field: "inputs", missing });
  return { blockBytes, rows: inputs[0]!.tensor.shape[0], inputs };
}

/**
 * Writes the elements of checked inputs into `block` (`checked.blockBytes` long), in one pass per
 * tensor: JSON numbers are checked and stored as they are read, nested rows included; raw bytes are
 * copied once. Returns what the worker is sent: slices (at `arenaOffset`, where the block lies in its
 * arena) for numeric tensors, inline strings for BYTES.
 */
export function writeInputs(checked: CheckedInputs, block: Uint8Array, arenaOffset: number): TransportTensor[] {
  return checked.inputs.map(({ tensor, spec, field, elementCount, blockOffset: offsetInBlock, byteLength }): TransportTensor => {
    const shape = [...tensor.shape];
    if (spec.datatype === "BYTES") {
      const data = "raw" in tensor ? (fromRawBytes(tensor.raw, "BYTES", elementCount, field) as string[]) : jsonStrings(tensor, elementCount, field);
      return { name: spec.name, datatype: "BYTES", shape, data };
    }
    if ("raw" in tensor) writeRaw(tensor.raw, spec.datatype, block, offsetInBlock!, byteLength, field);
    else writeJson(tensor, spec.datatype, typedView(spec.datatype, block, offsetInBlock!, elementCount), field);
    return { name: spec.name, datatype: spec.datatype, shape, slice: { offset: arenaOffset + offsetInBlock!, byteLength } };
  });
}

/**
 * Checks `tensors` against the model's inputs and converts them into typed arrays of their own
 * (for callers without a shared-memory arena; the server writes into its arena instead).
 */
export function decodeInputs(tensors: InputTensor[], specs: TensorSpec[]): WireTensor[] {
  const checked = checkInputs(tensors, specs);
  const block = new Uint8Array(checked.blockBytes);
  return writeInputs(checked, block, 0).map((tensor) => {
    if (!isShared(tensor)) return tensor;
    const elementCount = tensor.shape.reduce((product, dimension) => product * dimension, 1);
    return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: typedView(tensor.datatype, block, tensor.slice.offset, elementCount) };
  });
}

/** Checks rank and fixed dimensions; returns the element count. */
function checkShape(shape: unknown, spec: TensorSpec, field: string): number {
  if (!Array.isArray(shape) || !shape.every((dimension) => Number.isSafeInteger(dimension) && dimension >= 0)) {
    throw invalidInput(`${field}: dimensions must be non-negative integers`, { field });
  }
  if (shape.length !== spec.shape.length) {
    throw invalidInput(`${field}: input "${spec.name}" has rank ${spec.shape.length} ([${spec.shape.join(", ")}]), got rank ${shape.length}`, {
      field,
    });
  }
  let elementCount = 1;
  spec.shape.forEach((expected, axis) => {
    if (expected >= 0 && shape[axis] !== expected) {
      throw invalidInput(`${field}: dimension ${axis} of input "${spec.name}" must be ${expected} ([${spec.shape.join(", ")}]), got ${shape[axis]}`, {
        field,
      });
    }
    elementCount *= shape[axis] as number;
  });
  if (!Number.isSafeInteger(elementCount)) throw invalidInput(`${field}: [${shape.join(", ")}] has too many elements`, { field });
  return elementCount;
}

function writeRaw(raw: Uint8Array, datatype: NumericDatatype, bytes: Uint8Array, offset: number, byteLength: number, field: string): void {
  if (raw.byteLength !== byteLength) {
    const elementCount = byteLength / elementBytes(datatype);
    throw invalidInput(`${field}: ${datatype} tensor of ${elementCount} elements needs ${byteLength} bytes, got ${raw.byteLength}`, { field });
  }
  bytes.set(raw, offset);
  if (datatype === "BOOL") {
    for (let index = offset; index < offset + byteLength; index++) if (bytes[index] !== 0) bytes[index] = 1;
  }
}

/**
 * JSON elements → `target`, checking each one as it is stored. Row-major nested arrays (KServe
 * allows them) are walked in place, never flattened into a copy, and may nest no deeper than the
 * tensor's rank.
 */
function writeJson(tensor: JsonTensor, datatype: NumericDatatype, target: NumericData, field: string): void {
  const dataField = `${field}.data`;
  const { data } = tensor;
  if (!Array.isArray(data)) throw invalidInput(`${dataField}: expected an array of elements`, { field: dataField });
  const elementCount = target.length;
  const store = storeFor(datatype, target, dataField);
  let written = 0;
  const walk = (values: unknown[], depth: number): void => {
    for (let index = 0; index < values.length; index++) {
      const value = values[index];
      if (Array.isArray(value)) {
        if (depth >= tensor.shape.length) throw invalidInput(`${dataField}: nested deeper than the tensor's rank ${tensor.shape.length}`, { field: dataField });
        walk(value, depth + 1);
      } else {
        if (written < elementCount) store(written, value);
        written++;
      }
    }
  };
  if (datatype === "FP32" || datatype === "FP64") written = writeFloats(data, target as Float32Array | Float64Array, dataField);
  if (written < 0) {
    written = 0;
    walk(data, 1);
  } else if (datatype !== "FP32" && datatype !== "FP64") {
    walk(data, 1);
  }
  if (written !== elementCount) {
    throw invalidInput(`${dataField}: shape [${tensor.shape.join(", ")}] needs ${elementCount} elements, got ${written}`, { field: dataField });
  }
}

/**
 * The hot path for float tensors: a plain loop over flat data, no per-element callback. Returns the
 * elements written, or -1 at the first nested row (the caller then walks the nesting).
 */
function writeFloats(values: unknown[], target: Float32Array | Float64Array, field: string): number {
  const count = Math.min(values.length, target.length);
  for (let index = 0; index < count; index++) {
    const value = values[index];
    if (typeof value === "number") target[index] = value;
    else if (Array.isArray(value)) return -1;
    else target[index] = finiteOrSpecial(value, field, index);
  }
  for (let index = count; index < values.length; index++) if (Array.isArray(values[index])) return -1;
  return values.length;
}

/** How one element of `datatype` is checked and stored at a flat index. */
function storeFor(datatype: NumericDatatype, target: NumericData, field: string): (index: number, value: unknown) => void {
  switch (datatype) {
    case "BOOL":
      return (index, value) => {
        if (typeof value !== "boolean") throw elementError(field, index, "a boolean", value);
        target[index] = value ? 1 : 0;
      };
    case "FP16":
      return (index, value) => void (target[index] = toHalfBits(finiteOrSpecial(value, field, index)));
    case "FP32":
    case "FP64":
      return (index, value) => void (target[index] = finiteOrSpecial(value, field, index));
    case "INT64":
      return (index, value) => void (target[index] = toBigInt(value, field, index, -(2n ** 63n), 2n ** 63n - 1n));
    case "UINT64":
      return (index, value) => void (target[index] = toBigInt(value, field, index, 0n, 2n ** 64n - 1n));
    default: {
      const [minimum, maximum] = INTEGER_RANGES[datatype]!;
      return (index, value) => {
        if (typeof value !== "number" || !Number.isInteger(value) || value < minimum || value > maximum) {
          throw elementError(field, index, `an integer in ${minimum}..${maximum}`, value);
        }
        target[index] = value;
      };
    }
  }
}

function jsonStrings(tensor: JsonTensor, elementCount: number, field: string): string[] {
  const dataField = `${field}.data`;
  if (!Array.isArray(tensor.data)) throw invalidInput(`${dataField}: expected an array of elements`, { field: dataField });
  const strings: string[] = [];
  const walk = (values: unknown[], depth: number): void => {
    for (const value of values) {
      if (Array.isArray(value)) {
        if (depth >= tensor.shape.length) throw invalidInput(`${dataField}: nested deeper than the tensor's rank ${tensor.shape.length}`, { field: dataField });
        walk(value, depth + 1);
      } else if (typeof value === "string") {
        strings.push(value);
      } else {
        throw elementError(dataField, strings.length, "a string", value);
      }
    }
  };
  walk(tensor.data, 1);
  if (strings.length !== elementCount) {
    throw invalidInput(`${dataField}: shape [${tensor.shape.join(", ")}] needs ${elementCount} elements, got ${strings.length}`, { field: dataField });
  }
  return strings;
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
  else if (typeof value === "string" && /^-?\d{1,20}$/.test(value)) result = BigInt(value);
  if (result === undefined || result < minimum || result > maximum) throw elementError(field, index, `an integer in ${minimum}..${maximum}`, value);
  return result;
}

function elementError(field: string, index: number, expected: string, value: unknown) {
  return invalidInput(`${field}[${index}]: expected ${expected}, got ${echo(value)}`, { field, index });
}

/** A value as JSON, cut short: a bad element of a large request is named, not echoed whole. */
function echo(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > ECHO_LIMIT_CHARACTERS ? `${text.slice(0, ECHO_LIMIT_CHARACTERS)}… (${text.length} characters)` : text;
}

/** Worker outputs → JSON tensors. INT64 beyond 2^53 loses precision, as in every JSON KServe server. */
export function encodeOutputs(tensors: WireTensor[]): JsonOutputTensor[] {
  return tensors.map((tensor) => ({ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: toJsonData(tensor) }));
}

function toJsonData(tensor: WireTensor): (number | boolean | string)[] {
  const { data, datatype } = tensor;
  if (Array.isArray(data)) return data;
  if (datatype === "BOOL") return Array.from(data as Uint8Array, (value) => value !== 0);
  if (datatype === "FP16") {
    const values: (number | string)[] = Array.from(data as Uint16Array, fromHalfBits);
    specialsAsStrings(values);
    return values as number[];
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (value) => Number(value));
  const values: (number | string)[] = Array.from(data as Float32Array);
  if (datatype === "FP32" || datatype === "FP64") specialsAsStrings(values);
  return values as number[];
}

/** NaN and ±Infinity become "NaN", "Infinity", "-Infinity", the way inputs accept them (JSON has no such numbers). */
function specialsAsStrings(values: (number | string)[]): void {
  for (let index = 0; index < values.length; index++) {
    const value = values[index] as number;
    if (value - value !== 0) values[index] = String(value);
  }
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
