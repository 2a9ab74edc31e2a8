/**
 * Raw tensor bytes, as the KServe v2 binary tensor extension and gRPC `raw_input_contents` /
 * `raw_output_contents` carry them: elements in row-major order, little-endian, BOOL one byte per
 * element, FP16 as IEEE half bits, BYTES as a 4-byte little-endian length before each element.
 */
import { invalidInput } from "../errors.ts";
import { elementBytes, typedView } from "../../workers/datatypes.ts";
import type { Datatype, TensorData, WireTensor } from "../../workers/protocol.ts";

const utf8 = new TextDecoder("utf-8", { fatal: false });
const encoder = new TextEncoder();

/** Bytes → typed elements of their own; `field` names the tensor in errors (INVALID_INPUT on a size mismatch). */
export function fromRawBytes(bytes: Uint8Array, datatype: Datatype, elementCount: number, field: string): TensorData {
  if (datatype === "BYTES") return splitByteStrings(bytes, elementCount, field);
  const size = elementBytes(datatype);
  if (bytes.byteLength !== elementCount * size) {
    throw invalidInput(`${field}: ${datatype} tensor of ${elementCount} elements needs ${elementCount * size} bytes, got ${bytes.byteLength}`, { field });
  }
  // A copy starting at offset 0: the source may be a view at an offset the element size does not divide.
  const copy = bytes.slice();
  if (datatype === "BOOL") for (let index = 0; index < copy.length; index++) if (copy[index] !== 0) copy[index] = 1;
  return typedView(datatype, copy, 0, elementCount);
}

function splitByteStrings(bytes: Uint8Array, elementCount: number, field: string): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values: string[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (offset + 4 > bytes.byteLength) throw invalidInput(`${field}: BYTES element ${values.length} has a truncated length prefix`, { field });
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.byteLength) throw invalidInput(`${field}: BYTES element ${values.length} runs past the end of the data`, { field });
    values.push(utf8.decode(bytes.subarray(offset, offset + length)));
    offset += length;
  }
  if (values.length !== elementCount) throw invalidInput(`${field}: shape needs ${elementCount} BYTES elements, got ${values.length}`, { field });
  return values;
}

/** A tensor's elements as raw bytes (a view, not a copy, for numeric tensors). */
export function toRawBytes(tensor: WireTensor): Uint8Array {
  const { data } = tensor;
  if (Array.isArray(data)) {
    const encoded = data.map((value) => encoder.encode(value));
    const out = new Uint8Array(encoded.reduce((total, element) => total + 4 + element.byteLength, 0));
    const view = new DataView(out.buffer);
    let offset = 0;
    for (const element of encoded) {
      view.setUint32(offset, element.byteLength, true);
      out.set(element, offset + 4);
      offset += 4 + element.byteLength;
    }
    return out;
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
