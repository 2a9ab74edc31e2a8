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
