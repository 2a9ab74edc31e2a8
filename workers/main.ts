/**
 * Worker process entry: owns exactly one onnxruntime session for one model version.
 * Spawned by src/lifecycle/worker-process.ts with an IPC channel; see workers/protocol.ts for the
 * conversation. The worker never outlives its parent: when the IPC channel closes it exits.
 */
import * as ort from "onnxruntime-node";
import { concatenateItems, splitOutputs } from "./batch.ts";
import { ortType, zeros } from "./datatypes.ts";
import { pinFloat16ToHalfBits } from "./float16.ts";
import type { Datatype, InferMessage, LoadMessage, ServerToWorker, TensorSpec, WireTensor, WorkerToServer } from "./protocol.ts";
import { describeSession, openSession } from "./session.ts";

interface LoadedModel {
  session: ort.InferenceSession;
  outputDatatypes: Map<string, Datatype>;
}

let loaded: LoadedModel | undefined;

pinFloat16ToHalfBits();

function send(message: WorkerToServer): void {
  process.send!(message);
}

async function load(message: LoadMessage): Promise<void> {
  const startedAt = performance.now();
  try {
    const opened = await openSession(message.modelPath, message.device, message.intraOpThreads);
    const signature = describeSession(opened.session);
    if (message.healthCheck) await healthCheck(opened.session, signature.inputs, message.warmupShapes ?? {});
    loaded = { session: opened.session, outputDatatypes: new Map(signature.outputs.map((output) => [output.name, output.datatype])) };
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
  if (!loaded) {
    send({ type: "infer-failed", requestId: message.requestId, message: "worker has no model loaded (this is a bug)", invalidInput: false });
    return;
  }
  const startedAt = performance.now();
  try {
    const { inputs, rowsPerItem } = concatenateItems(message.items);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) feeds[input.name] = toOrtTensor(input);
    const { session, outputDatatypes } = loaded;
    const results = message.outputNames ? await session.run(feeds, message.outputNames) : await session.run(feeds);
    const outputs: WireTensor[] = [];
    for (const [name, tensor] of Object.entries(results)) {
      outputs.push({ name, datatype: outputDatatypes.get(name) ?? "FP32", shape: [...tensor.dims], data: tensor.data as WireTensor["data"] });
    }
    for (const tensor of Object.values(feeds)) tensor.dispose();
    const itemOutputs = splitOutputs(outputs, rowsPerItem);
    send({ type: "inferred", requestId: message.requestId, itemOutputs, computeMicroseconds: Math.round((performance.now() - startedAt) * 1000) });
  } catch (error) {
    send({ type: "infer-failed", requestId: message.requestId, message: errorMessage(error), invalidInput: false });
  }
}

function toOrtTensor(tensor: WireTensor): ort.Tensor {
  return new ort.Tensor(ortType(tensor.datatype), tensor.data as never, tensor.shape);
}

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.slice(0, 500);
}

process.on("message", (message: ServerToWorker) => {
  if (message.type === "load") void load(message);
  else if (message.type === "infer") void infer(message);
});
process.on("disconnect", () => process.exit(0));
send({ type: "ready-for-load" });
