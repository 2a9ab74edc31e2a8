/**
 * Worker process entry: owns exactly one onnxruntime session for one model version.
 * Spawned by src/lifecycle/worker-process.ts with an IPC channel; see workers/protocol.ts for the
 * conversation. onnxruntime is imported before `ready-for-load`, so a standby worker that the
 * server keeps waiting pays only for the session when a model is assigned to it. The worker never
 * outlives its parent: when the IPC channel closes it exits.
 */
import * as ort from "onnxruntime-node";
import { type JsonPacked, pack, unpack } from "./channel.ts";
import { ArenaAllocator, mapArenaFile } from "./arena.ts";
import { concatenateItems } from "./batch.ts";
import { ortType, typedView, zeros } from "./datatypes.ts";
import { pinFloat16ToHalfBits } from "./float16.ts";
import { numericOutputBytes, type OutputArena, placeOutputs } from "./outputs.ts";
import {
  type Datatype,
  type GenerateMessage,
  type InferMessage,
  isShared,
  type LoadMessage,
  type ServerToWorker,
  type TensorSpec,
  type TransportTensor,
  type WireTensor,
  type WorkerToServer,
} from "./protocol.ts";
import { describeSession, openSession } from "./session.ts";
import { isTaskBatch, runTask } from "./tasks/run-task.ts";
import { DecodingLoop } from "./generation/decoding-loop.ts";

interface LoadedModel {
  session: ort.InferenceSession;
  outputDatatypes: Map<string, Datatype>;
  inputArena: Uint8Array | undefined;
  outputArena: OutputArena | undefined;
  maxOutputBytes: number;
}

let loaded: LoadedModel | undefined;
/** txt2txt: the continuous-batching loop over the loaded decoder, made on the first sequence. */
let decodingLoop: DecodingLoop | undefined;

pinFloat16ToHalfBits();

function send(message: WorkerToServer): void {
  process.send!(pack(message));
}

async function load(message: LoadMessage): Promise<void> {
  const startedAt = performance.now();
  try {
    const opened = await openSession(message.modelPath, message.device, message.intraOpThreads, message.enableCpuMemArena);
    const signature = describeSession(opened.session);
    if (message.healthCheck) await healthCheck(opened.session, signature.inputs, message.warmupShapes ?? {});
    loaded = {
      session: opened.session,
      outputDatatypes: new Map(signature.outputs.map((output) => [output.name, output.datatype])),
      inputArena: message.inputArenaPath ? mapArenaFile(message.inputArenaPath) : undefined,
      // First fit: each batch's outputs are one block freed as a whole, so nothing gains from next
      // fit's back-to-back placement; reusing the lowest pages keeps them resident and warm (a 64 MiB
      // output placed on fresh pages paid ~16k page faults, a third of a second).
      outputArena: message.outputArena
        ? { bytes: mapArenaFile(message.outputArena.path), allocator: new ArenaAllocator(message.outputArena.byteLength, { firstFit: true }) }
        : undefined,
      maxOutputBytes: message.maxOutputBytes ?? Number.POSITIVE_INFINITY,
    };
    send({ type: "loaded", provider: opened.provider, ...signature, loadMilliseconds: performance.now() - startedAt, notes: opened.notes });
  } catch (error) {
    send({ type: "load-failed", message: errorMessage(error) });
  }
}

/** One inference on zeros: dynamic dimensions are 1 unless `warmupShapes` names the input. */
async function healthCheck(target: ort.InferenceSession, inputs: TensorSpec[], warmupShapes: Record<string, number[]>): Promise<void> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const shape = warmupShapes[input.name] ?? input.shape.map((dimension) => (dimension < 0 ? 1 : dimension));
    const elementCount = shape.reduce((product, dimension) => product * dimension, 1);
    feeds[input.name] = toOrtTensor({ name: input.name, datatype: input.datatype, shape, data: zeros(input.datatype, elementCount) });
  }
  try {
    await target.run(feeds);
  } catch (error) {
    throw new Error(`health-check inference failed: ${errorMessage(error)}`);
  }
}

async function infer(message: InferMessage): Promise<void> {
  if (message.release) release(message.release);
  if (!loaded) {
    send({ type: "infer-failed", requestId: message.requestId, message: "worker has no model loaded (this is a bug)", code: "INFERENCE_FAILED" });
    return;
  }
  const startedAt = performance.now();
  try {
    const { session, outputDatatypes, inputArena, outputArena, maxOutputBytes } = loaded;
    if (isTaskBatch(message.items)) {
      const itemOutputs = await runTask(session, message.items);
      send({
        type: "inferred",
        requestId: message.requestId,
        itemOutputs,
        outputBlock: undefined,
        computeStartedAtMilliseconds: performance.timeOrigin + startedAt,
        computeMicroseconds: Math.round((performance.now() - startedAt) * 1000),
      });
      return;
    }
    const items = message.items.map((item) => item.map((tensor) => resolve(tensor, inputArena)));
    const { inputs, rowsPerItem } = concatenateItems(items);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) feeds[input.name] = toOrtTensor(input);
    const results = message.outputNames ? await session.run(feeds, message.outputNames) : await session.run(feeds);
    const outputs: WireTensor[] = [];
    for (const [name, tensor] of Object.entries(results)) {
      outputs.push({ name, datatype: outputDatatypes.get(name) ?? "FP32", shape: [...tensor.dims], data: tensor.data as WireTensor["data"] });
    }
    for (const tensor of Object.values(feeds)) tensor.dispose();
    const largest = largestAnswerBytes(outputs, rowsPerItem);
    if (largest > maxOutputBytes) {
      const reason = `the answer would be ${Math.ceil(largest)} bytes, more than the limit of ${maxOutputBytes} bytes (MODELMORA_MAX_OUTPUT_MB)`;
      send({ type: "infer-failed", requestId: message.requestId, message: reason, code: "OUTPUT_TOO_LARGE" });
      return;
    }
    const { itemOutputs, outputBlock } = placeOutputs(outputs, rowsPerItem, outputArena);
    send({
      type: "inferred",
      requestId: message.requestId,
      itemOutputs,
      outputBlock,
      computeStartedAtMilliseconds: performance.timeOrigin + startedAt,
      computeMicroseconds: Math.round((performance.now() - startedAt) * 1000),
    });
    if (outputBlock !== undefined && numericOutputBytes(outputs) >= COLLECT_AFTER_OUTPUT_BYTES) setImmediate(() => Bun.gc(true));
  } catch (error) {
    send({ type: "infer-failed", requestId: message.requestId, message: errorMessage(error), code: "INFERENCE_FAILED" });
  }
}

/**
 * onnxruntime-node hands each output back in a fresh ArrayBuffer. A large one, once copied into the
 * output arena, is garbage, but its memory returns to the allocator only when a collection runs;
 * until then the next large output is given fresh memory, faulted in page by page (a 64 MiB output:
 * ~200 ms instead of ~16 ms, in 2 of 12 runs of the gRPC bench). A full collection right after such
 * an answer (a few milliseconds in a worker's small heap, after the answer is sent) lets the next
 * output reuse that memory.
 */
const COLLECT_AFTER_OUTPUT_BYTES = 16 * 1024 * 1024;

/** A shared tensor as a typed-array view of the input arena (no copy); inline tensors as they are. */
function resolve(tensor: TransportTensor, inputArena: Uint8Array | undefined): WireTensor {
  if (!isShared(tensor)) return tensor;
  if (!inputArena) throw new Error("request tensor in shared memory, but no input arena is mapped (this is a bug)");
  const elementCount = tensor.shape.reduce((product, dimension) => product * dimension, 1);
  return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: typedView(tensor.datatype, inputArena, tensor.slice.offset, elementCount) };
}

/**
 * Bytes of the largest single request's share of the outputs (rows are split evenly by dim 0; BYTES
 * count their UTF-16 length as a cheap upper bound of the bytes they become).
 */
function largestAnswerBytes(outputs: WireTensor[], rowsPerItem: number[]): number {
  const totalRows = rowsPerItem.reduce((total, rows) => total + rows, 0);
  const largestShare = Math.max(...rowsPerItem) / Math.max(1, totalRows);
  let bytes = 0;
  for (const output of outputs) {
    const data = output.data;
    const outputBytes = Array.isArray(data) ? data.reduce((total, value) => total + 4 + value.length * 2, 0) : data.byteLength;
    bytes += rowsPerItem.length === 1 ? outputBytes : outputBytes * largestShare;
  }
  return bytes;
}

function release(offsets: number[]): void {
  const allocator = loaded?.outputArena?.allocator;
  if (!allocator) return;
  for (const offset of offsets) allocator.free(offset);
}

function toOrtTensor(tensor: WireTensor): ort.Tensor {
  return new ort.Tensor(ortType(tensor.datatype), tensor.data as never, tensor.shape);
}

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.slice(0, 500);
}

process.on("message", (received: ServerToWorker | JsonPacked) => {
  const message = unpack(received);
  if (message.type === "infer") void infer(message);
  else if (message.type === "release") release(message.offsets);
  else if (message.type === "load") void load(message);
  else if (message.type === "generate") generate(message);
  else if (message.type === "generate-cancel") decodingLoop?.cancel(message.sequenceId);
});

function generate(message: GenerateMessage): void {
  if (!loaded) {
    send({ type: "generate-failed", sequenceId: message.sequenceId, message: "worker has no model loaded (this is a bug)", code: "INFERENCE_FAILED" });
    return;
  }
  try {
    decodingLoop ??= new DecodingLoop(loaded.session, send);
  } catch (error) {
    // The model is not a KV-cache decoder: the request asked a model for what it cannot do.
    send({ type: "generate-failed", sequenceId: message.sequenceId, message: errorMessage(error), code: "INVALID_INPUT" });
    return;
  }
  decodingLoop.start(message);
}
process.on("disconnect", () => process.exit(0));
send({ type: "ready-for-load" });
