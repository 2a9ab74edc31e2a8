/**
 * Finds ONNX tensors whose data lives outside the model file ("external data"). A registered
 * model version is exactly one file, so any external reference points at something that is not
 * the model's own: another model's cached file, a file of the server. Such models are refused
 * before onnxruntime ever opens them.
 *
 * A minimal protobuf walk over the fields that can hold a TensorProto (graph initializers, node
 * attributes, subgraphs, functions, training info); tensor payloads are skipped by length, never
 * decoded, so the file is only touched where its structure is.
 */

/** Field numbers (onnx.proto3) of the messages that can contain tensors, by message kind. */
const CHILDREN: Record<string, Record<number, string>> = {
  model: { 7: "graph", 20: "training", 25: "function" },
  training: { 1: "graph", 3: "graph" },
  graph: { 1: "node", 5: "tensor", 15: "sparse" },
  node: { 5: "attribute" },
  function: { 7: "node", 11: "attribute" },
  attribute: { 5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse" },
  sparse: { 1: "tensor", 2: "tensor" },
};

const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
const DATA_LOCATION_EXTERNAL = 1;
const STRING_ENTRY_KEY = 1;
const STRING_ENTRY_VALUE = 2;
const MAX_DEPTH = 64;

export class MalformedModelError extends Error {
  override readonly name = "MalformedModelError";
}

/**
 * The `location` of every tensor stored as external data ("" when a tensor says EXTERNAL without
 * one). Throws MalformedModelError when the bytes are not a protobuf message.
 *
 * @example externalDataLocations(await Bun.file("model.onnx").bytes()) // ["../sha256/9f86d0…"]
 */
export function externalDataLocations(bytes: Uint8Array): string[] {
  const found: string[] = [];
  walk(bytes, 0, bytes.length, "model", 0, found);
  return found;
}

function walk(bytes: Uint8Array, start: number, end: number, kind: string, depth: number, found: string[]): void {
  if (depth > MAX_DEPTH) throw new MalformedModelError("nested too deeply");
  const children = CHILDREN[kind] ?? {};
  let external = false;
  let location: string | undefined;
  let position = start;
  while (position < end) {
    const [tag, afterTag] = varint(bytes, position, end);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    position = afterTag;
    if (wireType === 0) {
      const [value, next] = varint(bytes, position, end);
      if (kind === "tensor" && field === TENSOR_DATA_LOCATION && value === DATA_LOCATION_EXTERNAL) external = true;
      position = next;
    } else if (wireType === 1) position += 8;
    else if (wireType === 5) position += 4;
    else if (wireType === 2) {
      const [length, next] = varint(bytes, position, end);
      const childEnd = next + length;
      if (childEnd > end) throw new MalformedModelError("a field runs past the end of its message");
      if (kind === "tensor" && field === TENSOR_EXTERNAL_DATA) {
        external = true;
        const entry = stringEntry(bytes, next, childEnd);
        if (entry.key === "location") location = entry.value;
      } else if (children[field]) walk(bytes, next, childEnd, children[field]!, depth + 1, found);
      position = childEnd;
    } else throw new MalformedModelError(`unsupported protobuf wire type ${wireType}`);
    if (position > end) throw new MalformedModelError("a field runs past the end of its message");
  }
  if (external) found.push(location ?? "");
}

function stringEntry(bytes: Uint8Array, start: number, end: number): { key?: string; value?: string } {
  const entry: { key?: string; value?: string } = {};
  let position = start;
  while (position < end) {
    const [tag, afterTag] = varint(bytes, position, end);
    if (tag % 8 !== 2) throw new MalformedModelError("external_data entries hold strings");
    const [length, next] = varint(bytes, afterTag, end);
    const text = new TextDecoder().decode(bytes.subarray(next, next + length));
    if (Math.floor(tag / 8) === STRING_ENTRY_KEY) entry.key = text;
    if (Math.floor(tag / 8) === STRING_ENTRY_VALUE) entry.value = text;
    position = next + length;
  }
  return entry;
}

/** A base-128 varint (up to 2^53, enough for lengths and enum values). */
function varint(bytes: Uint8Array, start: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let position = start; position < end && position < start + 10; position++) {
    const byte = bytes[position]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, position + 1];
    scale *= 128;
  }
  throw new MalformedModelError("truncated varint");
}
