/**
 * Where a checked request's tensors go before it is queued: into its model version's input arena
 * in shared memory (waiting for space, in arrival order, up to the request's deadline), or, without
 * shared memory, into a private block whose tensors then travel inline.
 */
import type { SharedMemory } from "../lifecycle/shared-memory.ts";
import type { ResolvedVersion } from "../registry/registry.ts";
import type { TransportTensor, WireTensor } from "../../workers/protocol.ts";
import { typedView } from "../../workers/datatypes.ts";
import { type CheckedInputs, writeInputs } from "./tensor-codec.ts";

/** The request's tensors as they will travel, and how to give their space back (idempotent). */
export interface PlacedInputs {
  inputs: TransportTensor[];
  free: () => void;
}

/**
 * Writes the request's tensors into the input arena of `key` (or inline when `sharedMemory` is
 * undefined or the request has no fixed-size tensors). The caller owns `free` once this resolves.
 */
export async function placeInputs(
  sharedMemory: SharedMemory | undefined,
  key: string,
  target: ResolvedVersion,
  checked: CheckedInputs,
  deadlineAtMilliseconds: number | undefined,
  signal: AbortSignal | undefined,
): Promise<PlacedInputs> {
  if (!sharedMemory || checked.blockBytes === 0) {
    const block = new Uint8Array(checked.blockBytes);
    return { inputs: inlineCopies(writeInputs(checked, block, 0), block), free: () => undefined };
  }
  const arena = sharedMemory.inputArena(key, `model "${target.name}" version ${target.version}`);
  const allocation = arena.allocate(checked.blockBytes, deadlineAtMilliseconds, signal);
  const offset = typeof allocation === "number" ? allocation : await allocation;
  let freed = false;
  const free = () => {
    if (freed) return;
    freed = true;
    arena.free(offset);
  };
  try {
    return { inputs: writeInputs(checked, arena.view(offset, checked.blockBytes), offset), free };
  } catch (error) {
    free();
    throw error;
  }
}

/** Shared slices of a private block as typed arrays over it (no shared memory to point into). */
function inlineCopies(tensors: TransportTensor[], block: Uint8Array): WireTensor[] {
  return tensors.map((tensor) => {
    if (!("slice" in tensor)) return tensor;
    const { offset, byteLength } = tensor.slice;
    const copy = block.slice(offset, offset + byteLength);
    const elementCount = tensor.shape.reduce((product, dimension) => product * dimension, 1);
    return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: typedView(tensor.datatype, copy, 0, elementCount) };
  });
}
