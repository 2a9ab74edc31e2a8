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
import { OutputPlans } from "./output-plans.ts";
import { type OutputArena, placeOutputs, type PresetOutputs, presetOutputs } from "./outputs.ts";
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
  outputPlans: OutputPlans;
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
      outputPlans: new OutputPlans(),
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
    const results = await target.run(feeds);
    // The first request's outputs then reuse this memory instead of faulting fresh pages in.
    freeOutputMemory(Object.values(results).map((tensor) => tensor.data as WireTensor["data"]));
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
    const { session, inputArena, outputArena, maxOutputBytes } = loaded;
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
    const { outputs, preset } = await runBatch(loaded, feeds, inputs, message.outputNames, rowsPerItem);
    for (const tensor of Object.values(feeds)) tensor.dispose();
    const largest = largestAnswerBytes(outputs, rowsPerItem);
    if (largest > maxOutputBytes) {
      if (preset) outputArena!.allocator.free(preset.outputBlock);
      const reason = `the answer would be ${Math.ceil(largest)} bytes, more than the limit of ${maxOutputBytes} bytes (MODELMORA_MAX_OUTPUT_MB)`;
      send({ type: "infer-failed", requestId: message.requestId, message: reason, code: "OUTPUT_TOO_LARGE" });
      return;
    }
    const { itemOutputs, outputBlock } = preset ?? placeOutputs(outputs, rowsPerItem, outputArena);
    send({
      type: "inferred",
      requestId: message.requestId,
      itemOutputs,
      outputBlock,
      computeStartedAtMilliseconds: performance.timeOrigin + startedAt,
      computeMicroseconds: Math.round((performance.now() - startedAt) * 1000),
    });
    if (!preset && outputBlock !== undefined) freeOutputMemory(outputs.map((output) => output.data));
  } catch (error) {
    send({ type: "infer-failed", requestId: message.requestId, message: errorMessage(error), code: "INFERENCE_FAILED" });
  }
}

/**
 * Runs a batch. When these input shapes ran before (see OutputPlans), onnxruntime writes the outputs
 * straight into a reserved arena block; `preset` then says where, and nothing is left to copy. If it
 * refuses the planned shapes, the block is freed and the batch runs as usual, unplanned from then on.
 */
async function runBatch(
  model: LoadedModel,
  feeds: Record<string, ort.Tensor>,
  inputs: WireTensor[],
  outputNames: string[] | undefined,
  rowsPerItem: number[],
): Promise<{ outputs: WireTensor[]; preset: PresetOutputs | undefined }> {
  const { session, outputDatatypes, outputArena, outputPlans } = model;
  const planKey = outputPlans.key(inputs, outputNames);
  const planned = outputArena ? outputPlans.expected(planKey) : undefined;
  const preset = planned && outputArena ? presetOutputs(planned, rowsPerItem, outputArena) : undefined;
  if (preset && outputArena) {
    try {
      const results = await session.run(feeds, Object.fromEntries(preset.views.map((view) => [view.name, toOrtTensor(view)])));
      // onnxruntime-node also hands back a copy of each output, never needed here (never the arena itself).
      freeOutputMemory(Object.values(results).flatMap((tensor) => (tensor.data as { buffer?: unknown }).buffer === outputArena.bytes.buffer ? [] : [tensor.data as WireTensor["data"]]));
      return { outputs: preset.views, preset };
    } catch {
      outputArena.allocator.free(preset.outputBlock);
      outputPlans.markUnstable(planKey);
    }
  }
  const results = outputNames ? await session.run(feeds, outputNames) : await session.run(feeds);
  const outputs: WireTensor[] = [];
  for (const [name, tensor] of Object.entries(results)) {
    outputs.push({ name, datatype: outputDatatypes.get(name) ?? "FP32", shape: [...tensor.dims], data: tensor.data as WireTensor["data"] });
  }
  outputPlans.remember(planKey, outputs);
  return { outputs, preset: undefined };
}

/**
 * onnxruntime-node hands each output back in a fresh ArrayBuffer. Once copied into the output arena
 * it is garbage; left to the collector, its memory comes back late, and a large output landing on
 * fresh memory is faulted in page by page (64 MiB: 16,384 faults, ~260 ms of CPU on the loaded
 * 2-core machine, against ~19 ms for the whole run on reused memory). A full collection after each
 * large answer kept it reused most of the time, at ~8 ms of CPU per answer while the server streams
 * it. Detaching the buffer (`transfer(0)`) frees the memory at once, deterministically, and the next
 * output of that size reuses it (measured in a loop of runs: 0 faults per run).
 */
function freeOutputMemory(outputData: WireTensor["data"][]): void {
  for (const data of outputData) {
    if (Array.isArray(data) || data.byteLength < FREE_AT_ONCE_BYTES) continue;
    // Only a buffer that is this output alone (never a view into a mapping or a larger buffer).
    const buffer = data.buffer as TransferableBuffer;
    if (buffer instanceof ArrayBuffer && !buffer.detached && data.byteOffset === 0 && buffer.byteLength === data.byteLength) buffer.transfer(0);
  }
}

/** ES2024's ArrayBuffer (Bun has it; the project's TypeScript lib predates it). */
type TransferableBuffer = ArrayBuffer & { readonly detached: boolean; transfer(newByteLength?: number): ArrayBuffer };

/** Below this an output's buffer is left to the collector (small buffers come from pooled memory anyway). */
const FREE_AT_ONCE_BYTES = 1024 * 1024;

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
