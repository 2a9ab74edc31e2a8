/**
 * Batch assembly for the worker: joins the inputs of several requests along dim 0 so the model runs
 * once, then cuts each output back into one piece per request. Pure functions over wire tensors; no
 * onnxruntime here, so the batching arithmetic is tested without a model.
 *
 * Contract: the scheduler only batches compatible items (same input names and datatypes, same
 * non-batch dims, every input of an item sharing its dim 0). A violation is a bug upstream, and the
 * errors say so. Items may list their inputs in any order; they are matched by name.
 */
import type { TensorData, WireTensor } from "./protocol.ts";

/** The concatenated inputs of a batch and how many dim-0 rows each item contributed. */
export interface ConcatenatedBatch {
  inputs: WireTensor[];
  /** rowsPerItem[i] is dim 0 of item i; pass it unchanged to {@link splitOutputs}. */
  rowsPerItem: number[];
}

type NumericData = Exclude<TensorData, string[]>;
type NumericConstructor = new (length: number) => NumericData;
type ViewConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => NumericData;
/** The one TypedArray method used for copying, typed loosely so it applies across element types. */
interface Settable {
  set(source: ArrayLike<number | bigint>, offset: number): void;
}

/**
 * Concatenates the inputs of `items` (each the full input set of one request) along dim 0.
 * Inputs come out in the order of the first item, each in one buffer of the same array type: a view
 * when the items' data already lie back to back in one buffer, else a fresh copy. A single item is
 * returned as is, without copying or checking.
 *
 * @example
 * const { inputs, rowsPerItem } = concatenateItems([
 *   [{ name: "x", datatype: "FP32", shape: [1, 2], data: new Float32Array([1, 2]) }],
 *   [{ name: "x", datatype: "FP32", shape: [2, 2], data: new Float32Array([3, 4, 5, 6]) }],
 * ]);
 * // inputs[0].shape = [3, 2], inputs[0].data = Float32Array [1, 2, 3, 4, 5, 6]; rowsPerItem = [1, 2]
 */
export function concatenateItems(items: WireTensor[][]): ConcatenatedBatch {
  const first = items[0];
  if (first === undefined) throw new Error("concatenateItems: empty batch; this is a bug");
  if (items.length === 1) return { inputs: first, rowsPerItem: [first[0]?.shape[0] ?? 1] };
  if (first.length === 0) throw new Error("concatenateItems: cannot batch items with no inputs; this is a bug");

  const byName = items.map((item, index) => indexByName(item, index, first.length));
  const rowsPerItem = items.map((item, index) => batchRows(item, index));
  const totalRows = sum(rowsPerItem);

  const inputs = first.map((template): WireTensor => {
    const rowShape = template.shape.slice(1);
    const parts = byName.map((tensors, index) => {
      const tensor = tensors.get(template.name);
      if (tensor === undefined) throw new Error(`concatenateItems: item ${index} has no input "${template.name}"; this is a bug`);
      checkCompatible(tensor, template, index);
      return tensor.data;
    });
    return { name: template.name, datatype: template.datatype, shape: [totalRows, ...rowShape], data: concatenateData(parts, totalRows * product(rowShape)) };
  });
  return { inputs, rowsPerItem };
}

/**
 * Splits each batched output back into one output set per item: item i gets rowsPerItem[i] rows,
 * copied into its own buffer so it can be transferred on its own. A single item gets `outputs` as is.
 * Throws, naming the output, when an output's dim 0 is not the batch's total rows.
 *
 * @example
 * splitOutputs([{ name: "y", datatype: "FP32", shape: [3], data: new Float32Array([7, 8, 9]) }], [1, 2]);
 * // [[{ name: "y", shape: [1], data: Float32Array [7] }], [{ name: "y", shape: [2], data: Float32Array [8, 9] }]]
 */
export function splitOutputs(outputs: WireTensor[], rowsPerItem: number[]): WireTensor[][] {
  if (rowsPerItem.length === 0) throw new Error("splitOutputs: empty batch; this is a bug");
  if (rowsPerItem.length === 1) return [outputs];
  const totalRows = sum(rowsPerItem);

  const perItem: WireTensor[][] = rowsPerItem.map(() => []);
  for (const output of outputs) {
    if (output.shape.length === 0 || output.shape[0] !== totalRows) {
      const rows = output.shape.length === 0 ? "no batch dimension (scalar)" : `${output.shape[0]} rows`;
      throw new Error(`output ${output.name} has ${rows} for a batch of ${totalRows}; the model is not batch-aligned`);
    }
    const rowShape = output.shape.slice(1);
    const rowElements = product(rowShape);
    checkElementCount(output, `splitOutputs: output ${output.name}`);
    let start = 0;
    rowsPerItem.forEach((rows, index) => {
      const end = start + rows * rowElements;
      perItem[index]!.push({ name: output.name, datatype: output.datatype, shape: [rows, ...rowShape], data: output.data.slice(start, end) });
      start = end;
    });
  }
  return perItem;
}

function indexByName(item: WireTensor[], index: number, expectedCount: number): Map<string, WireTensor> {
  const tensors = new Map(item.map((tensor) => [tensor.name, tensor]));
  if (tensors.size !== item.length) throw new Error(`concatenateItems: item ${index} repeats an input name; this is a bug`);
  if (item.length !== expectedCount) {
    throw new Error(`concatenateItems: item ${index} has ${item.length} inputs, but item 0 has ${expectedCount}; this is a bug`);
  }
  return tensors;
}

/** Dim 0 of an item, which every one of its inputs must share. */
function batchRows(item: WireTensor[], index: number): number {
  const rows = item[0]?.shape[0];
  if (rows === undefined) throw new Error(`concatenateItems: item ${index} has no batch dimension to concatenate on; this is a bug`);
  for (const tensor of item) {
    if (tensor.shape[0] !== rows) {
      throw new Error(`concatenateItems: item ${index} input "${tensor.name}" has ${tensor.shape[0]} rows, but its other inputs have ${rows}; this is a bug`);
    }
  }
  return rows;
}

function checkCompatible(tensor: WireTensor, template: WireTensor, index: number): void {
  const where = `concatenateItems: item ${index} input "${tensor.name}"`;
  if (tensor.datatype !== template.datatype) {
    throw new Error(`${where} is ${tensor.datatype}, but item 0's is ${template.datatype}; this is a bug`);
  }
  const sameRowShape =
    tensor.shape.length === template.shape.length && tensor.shape.every((dimension, axis) => axis === 0 || dimension === template.shape[axis]);
  if (!sameRowShape) {
    throw new Error(`${where} has shape [${tensor.shape.join(", ")}], which differs from item 0's [${template.shape.join(", ")}] beyond dim 0; this is a bug`);
  }
  if (tensor.data.constructor !== template.data.constructor) {
    throw new Error(`${where} carries a ${tensor.data.constructor.name}, but item 0's carries a ${template.data.constructor.name}; this is a bug`);
  }
  checkElementCount(tensor, where);
}

function checkElementCount(tensor: WireTensor, where: string): void {
  const expected = product(tensor.shape);
  if (tensor.data.length !== expected) {
    throw new Error(`${where}: shape [${tensor.shape.join(", ")}] needs ${expected} elements, data has ${tensor.data.length}; this is a bug`);
  }
}

/**
 * The parts back to back in one array of their type. Views that already lie back to back in one
 * buffer (consecutive requests' slices of a shared-memory arena) are joined without copying;
 * anything else is copied with `set` into a fresh array.
 */
function concatenateData(parts: TensorData[], totalElements: number): TensorData {
  const first = parts[0]!;
  if (!Array.isArray(first) && adjacent(parts as NumericData[])) {
    return new (first.constructor as ViewConstructor)(first.buffer, first.byteOffset, totalElements);
  }
  if (Array.isArray(first)) {
    const joined = new Array<string>(totalElements);
    let offset = 0;
    for (const part of parts as string[][]) {
      for (let i = 0; i < part.length; i++) joined[offset + i] = part[i]!;
      offset += part.length;
    }
    return joined;
  }
  const joined = new (first.constructor as NumericConstructor)(totalElements);
  let offset = 0;
  for (const part of parts as NumericData[]) {
    (joined as Settable).set(part, offset);
    offset += part.length;
  }
  return joined;
}

function adjacent(parts: NumericData[]): boolean {
  for (let index = 1; index < parts.length; index++) {
    const previous = parts[index - 1]!;
    const part = parts[index]!;
    if (part.buffer !== previous.buffer || part.byteOffset !== previous.byteOffset + previous.byteLength) return false;
  }
  return true;
}

function product(dimensions: number[]): number {
  return dimensions.reduce((acc, dimension) => acc * dimension, 1);
}

function sum(values: number[]): number {
  return values.reduce((acc, value) => acc + value, 0);
}
