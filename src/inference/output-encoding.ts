/**
 * Worker outputs → KServe v2 JSON tensors: BOOL as booleans, FP16 decoded, 64-bit integers as numbers,
 * and NaN / ±Infinity as the strings inputs accept for them (JSON has no such numbers).
 */
import type { WireTensor } from "../../workers/protocol.ts";
import { fromHalfBits } from "./half-float.ts";
import type { JsonOutputTensor } from "./tensor-codec.ts";

/** Worker outputs → JSON tensors. INT64 beyond 2^53 loses precision, as in every JSON KServe server. */
export function encodeOutputs(tensors: WireTensor[]): JsonOutputTensor[] {
  return tensors.map((tensor) => ({ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: toJsonData(tensor) }));
}

/**
 * One preallocated array filled by an indexed loop per datatype: `Array.from` over a typed array
 * (and a second pass for NaN / ±Infinity) cost about ten times as much in Bun, which made a large
 * answer's encoding (PP-OCRv4 rec: 265,000 floats) a visible part of its latency.
 */
function toJsonData(tensor: WireTensor): (number | boolean | string)[] {
  const { data, datatype } = tensor;
  if (Array.isArray(data)) return data;
  if (datatype === "BOOL") return booleans(data as Uint8Array);
  if (datatype === "FP16") return halves(data as Uint16Array);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return bigIntegers(data);
  if (datatype === "FP32" || datatype === "FP64") return floats(data as Float32Array | Float64Array);
  return integers(data as Exclude<typeof data, Float32Array | Float64Array | BigInt64Array | BigUint64Array | string[]>);
}

/** NaN and ±Infinity become "NaN", "Infinity", "-Infinity", the way inputs accept them (JSON has no such numbers). */
function floats(data: Float32Array | Float64Array): (number | string)[] {
  const values: (number | string)[] = new Array(data.length);
  for (let index = 0; index < data.length; index++) {
    const value = data[index]!;
    values[index] = value - value === 0 ? value : String(value);
  }
  return values;
}

function halves(data: Uint16Array): (number | string)[] {
  const values: (number | string)[] = new Array(data.length);
  for (let index = 0; index < data.length; index++) {
    const value = fromHalfBits(data[index]!);
    values[index] = value - value === 0 ? value : String(value);
  }
  return values;
}

function booleans(data: Uint8Array): boolean[] {
  const values: boolean[] = new Array(data.length);
  for (let index = 0; index < data.length; index++) values[index] = data[index] !== 0;
  return values;
}

function bigIntegers(data: BigInt64Array | BigUint64Array): number[] {
  const values: number[] = new Array(data.length);
  for (let index = 0; index < data.length; index++) values[index] = Number(data[index]!);
  return values;
}

function integers(data: ArrayLike<number>): number[] {
  const values: number[] = new Array(data.length);
  for (let index = 0; index < data.length; index++) values[index] = data[index]!;
  return values;
}
