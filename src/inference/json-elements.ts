/**
 * JSON elements of request tensors → typed arrays, each element checked as it is stored (range,
 * type, nesting no deeper than the tensor's rank), and BYTES elements → strings. Every rejection is
 * INVALID_INPUT naming the field and the element's index; offending values are echoed cut short.
 */
import { invalidInput } from "../errors.ts";
import type { Datatype } from "../registry/tensor-spec.ts";
import type { NumericData, NumericDatatype } from "../../workers/datatypes.ts";
import { toHalfBits } from "./half-float.ts";
import type { JsonTensor } from "./tensor-codec.ts";

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

/**
 * JSON elements → `target`, checking each one as it is stored. Row-major nested arrays (KServe
 * allows them) are walked in place, never flattened into a copy, and may nest no deeper than the
 * tensor's rank.
 */
export function writeJson(tensor: JsonTensor, datatype: NumericDatatype, target: NumericData, field: string): void {
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

export function jsonStrings(tensor: JsonTensor, elementCount: number, field: string): string[] {
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
export function echo(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > ECHO_LIMIT_CHARACTERS ? `${text.slice(0, ECHO_LIMIT_CHARACTERS)}… (${text.length} characters)` : text;
}
