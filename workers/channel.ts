/**
 * How messages of workers/protocol.ts cross Bun's IPC channel. The channel's structured clone
 * (`serialization: "advanced"`) carries typed arrays, but it walks every property of a message to
 * find them: a batch's descriptors (items × tensors × name, shape, slice) cost the server 58 µs of
 * CPU per round trip at 10 items and 125 µs at 32, against about 25 µs for the same message as one
 * JSON string. So a message with no typed array in it travels as JSON text; only inline tensors
 * with typed-array data (image bytes, outputs too large for the output arena, inspection workers
 * without shared memory) still need the structured clone.
 */
import { isShared, type ServerToWorker, type TransportTensor, type WorkerToServer } from "./protocol.ts";

/** A message sent as its JSON text. */
export interface JsonPacked {
  type: "json";
  json: string;
}

type Message = ServerToWorker | WorkerToServer;

/** The message as it should go on the channel: JSON text unless it carries typed arrays. */
export function pack<T extends Message>(message: T): T | JsonPacked {
  return carriesTypedArrays(message) ? message : { type: "json", json: JSON.stringify(message) };
}

/** A message as it came off the channel, whichever way it was sent. */
export function unpack<T extends Message>(message: T | JsonPacked): T {
  return message.type === "json" ? (JSON.parse((message as JsonPacked).json) as T) : (message as T);
}

function carriesTypedArrays(message: Message): boolean {
  if (message.type === "infer") return message.items.some((item) => item.some(inlineTypedArray));
  if (message.type === "inferred") return message.itemOutputs.some((outputs) => outputs.some(inlineTypedArray));
  return false;
}

/** BYTES tensors hold string arrays, which JSON carries as they are. */
function inlineTypedArray(tensor: TransportTensor): boolean {
  return !isShared(tensor) && !Array.isArray(tensor.data);
}
