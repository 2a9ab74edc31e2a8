/**
 * Places a batch's outputs for the server: every numeric output is copied once into one block of
 * the worker's output arena, and each request's share of it is a slice (rows are contiguous, so
 * splitting costs nothing). BYTES outputs, and batches whose
 * outputs do not fit the free space travel inline instead (split by copying): never a torn or
 * shared buffer.
 */
import { alignUp, type ArenaAllocator } from "./arena.ts";
import { type NumericDatatype, type NumericData } from "./datatypes.ts";
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
  if (numericOutputBytes(outputs) <= INLINE_OUTPUT_BYTES) return inline();
  const totalRows = rowsPerItem.reduce((total, rows) => total + rows, 0);
  if (rowsPerItem.length > 1 && outputs.some((output) => output.shape[0] !== totalRows)) return inline(); // splitOutputs says why
  let blockBytes = 0;
  for (const output of outputs) blockBytes += alignUp((output.data as NumericData).byteLength);
  const block = arena.allocator.allocate(blockBytes);
  if (block === undefined) return inline();

  const itemOutputs: TransportTensor[][] = rowsPerItem.map(() => []);
  let offset = block;
  for (const output of outputs) {
    const data = output.data as NumericData;
    arena.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    const rowShape = output.shape.slice(1);
    const rowBytes = rowsPerItem.length === 1 ? data.byteLength : data.byteLength / totalRows;
    let itemOffset = offset;
    rowsPerItem.forEach((rows, index) => {
      const shape = rowsPerItem.length === 1 ? output.shape : [rows, ...rowShape];
      const byteLength = rowsPerItem.length === 1 ? data.byteLength : rows * rowBytes;
      itemOutputs[index]!.push({ name: output.name, datatype: output.datatype as NumericDatatype, shape, slice: { offset: itemOffset, byteLength } });
      itemOffset += byteLength;
    });
    offset += alignUp(data.byteLength);
  }
  return { itemOutputs, outputBlock: block };
}

/** Bytes of the numeric outputs (BYTES outputs, held as strings, count nothing). */
export function numericOutputBytes(outputs: WireTensor[]): number {
  let total = 0;
  for (const output of outputs) if (!Array.isArray(output.data)) total += output.data.byteLength;
  return total;
}
