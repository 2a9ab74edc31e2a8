/**
 * Request tensors (KServe v2 JSON `{ name, shape, datatype, data }`, or raw bytes) → the bytes a
 * worker reads, validated against the model's declared signature (JSON elements: json-elements.ts);
 * worker outputs → JSON tensors (output-encoding.ts).
 * Every rejection is INVALID_INPUT and names the offending field, e.g. `inputs[0].shape`.
 *
 * Decoding is two steps so that nothing is allocated before a request is known to fit:
 * `checkInputs` (names, datatypes, shapes → the block size) and `writeInputs` (elements, one pass,
 * straight into the block, normally in a model's shared-memory arena).
 */
import { invalidInput } from "../errors.ts";
import { DATATYPES, type Datatype, type TensorSpec } from "../registry/tensor-spec.ts";
import { alignUp } from "../../workers/arena.ts";
import { elementBytes, type NumericDatatype, typedView } from "../../workers/datatypes.ts";
import { isShared, type TransportTensor, type WireTensor } from "../../workers/protocol.ts";
import { echo, jsonStrings, writeJson } from "./json-elements.ts";
import { fromRawBytes } from "./raw-tensor.ts";

export { fromHalfBits, toHalfBits } from "./half-float.ts";
export { encodeOutputs } from "./output-encoding.ts";

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
