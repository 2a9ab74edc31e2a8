/**
 * Places a batch's outputs for the server: every numeric output is copied once into one block of
 * the worker's output arena (or, with `presetOutputs`, written there by onnxruntime itself), and
 * each request's share of it is a slice (rows are contiguous, so splitting costs nothing). BYTES
 * outputs, and batches whose
 * outputs do not fit the free space travel inline instead (split by copying): never a torn or
 * shared buffer.
 */
import { alignUp, type ArenaAllocator } from "./arena.ts";
import { elementBytes, type NumericDatatype, type NumericData, typedView } from "./datatypes.ts";
import { splitOutputs } from "./batch.ts";
import type { TransportTensor, WireTensor } from "./protocol.ts";

/**
 * Outputs up to this size travel inline in the answer message. None do any more: inline typed
 * arrays make the answer go through the IPC channel's structured clone (workers/channel.ts), which
 * cost a tiny model's worker ~140 us of its ~390 us per batch, while an arena block costs no message
 * of its own (its release rides on the next batch) and the server reads it through a mapping it keeps.
 */
export const INLINE_OUTPUT_BYTES = 0;

export interface OutputArena {
  bytes: Uint8Array;
  allocator: ArenaAllocator;
}

export interface PlacedOutputs {
  itemOutputs: TransportTensor[][];
  /** The block to release once the server has read it; undefined when everything went inline. */
  outputBlock: number | undefined;
}

/**
 * @example
 * placeOutputs([{ name: "y", datatype: "FP32", shape: [3], data }], [1, 2], arena);
 * // itemOutputs: [[{ name: "y", shape: [1], slice: { offset: b, byteLength: 4 } }], [{ …, slice: { offset: b + 4, byteLength: 8 } }]]
 */
export function placeOutputs(outputs: WireTensor[], rowsPerItem: number[], arena: OutputArena | undefined): PlacedOutputs {
  const inline = (): PlacedOutputs => ({ itemOutputs: splitOutputs(outputs, rowsPerItem), outputBlock: undefined });
  if (!arena || outputs.some((output) => Array.isArray(output.data))) return inline();
  const shapes = outputs.map(({ name, datatype, shape, data }) => ({ name, datatype: datatype as NumericDatatype, shape, byteLength: (data as NumericData).byteLength }));
  const layout = layOut(shapes, rowsPerItem, arena);
  if (!layout) return inline();
  outputs.forEach((output, index) => {
    const data = output.data as NumericData;
    arena.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), layout.offsets[index]!);
  });
  return { itemOutputs: layout.itemOutputs, outputBlock: layout.block };
}

/** An output's name, datatype and shape, and its size in bytes, before (or without) its data. */
export interface OutputShape {
  name: string;
  datatype: NumericDatatype;
  shape: number[];
  byteLength: number;
}

/** Outputs onnxruntime is to write straight into the arena: views to pass as fetches, and where they lie. */
export interface PresetOutputs extends PlacedOutputs {
  outputBlock: number;
  views: WireTensor[];
}

/**
 * Reserves a block for outputs of known shapes (the shapes the model gave last time for the same
 * input shapes) and answers typed views of it for onnxruntime to write into, laid out exactly as
 * `placeOutputs` would copy them: no copy after the run. Undefined when `placeOutputs` would send the
 * outputs inline (small, BYTES, rows that do not split) or the block does not fit.
 */
export function presetOutputs(shapes: readonly OutputShape[], rowsPerItem: number[], arena: OutputArena): PresetOutputs | undefined {
  const layout = layOut(shapes, rowsPerItem, arena);
  if (!layout) return undefined;
  const views = shapes.map(({ name, datatype, shape, byteLength }, index) => ({
    name,
    datatype,
    shape,
    data: typedView(datatype, arena.bytes, layout.offsets[index]!, byteLength / elementBytes(datatype)),
  }));
  return { itemOutputs: layout.itemOutputs, outputBlock: layout.block, views };
}

/** One block for all outputs, each aligned after the previous; each item's share is a slice of its rows. */
function layOut(shapes: readonly OutputShape[], rowsPerItem: number[], arena: OutputArena): { block: number; offsets: number[]; itemOutputs: TransportTensor[][] } | undefined {
  let totalBytes = 0;
  for (const output of shapes) totalBytes += output.byteLength;
  if (totalBytes <= INLINE_OUTPUT_BYTES) return undefined;
  const totalRows = rowsPerItem.reduce((total, rows) => total + rows, 0);
  if (rowsPerItem.length > 1 && shapes.some((output) => output.shape[0] !== totalRows)) return undefined; // splitOutputs says why
  let blockBytes = 0;
  for (const output of shapes) blockBytes += alignUp(output.byteLength);
  const block = arena.allocator.allocate(blockBytes);
  if (block === undefined) return undefined;

  const itemOutputs: TransportTensor[][] = rowsPerItem.map(() => []);
  const offsets: number[] = [];
  let offset = block;
  for (const output of shapes) {
    offsets.push(offset);
    const rowShape = output.shape.slice(1);
    const rowBytes = rowsPerItem.length === 1 ? output.byteLength : output.byteLength / totalRows;
    let itemOffset = offset;
    rowsPerItem.forEach((rows, index) => {
      const shape = rowsPerItem.length === 1 ? output.shape : [rows, ...rowShape];
      const byteLength = rowsPerItem.length === 1 ? output.byteLength : rows * rowBytes;
      itemOutputs[index]!.push({ name: output.name, datatype: output.datatype, shape, slice: { offset: itemOffset, byteLength } });
      itemOffset += byteLength;
    });
    offset += alignUp(output.byteLength);
  }
  return { block, offsets, itemOutputs };
}
