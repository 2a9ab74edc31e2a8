/**
 * Task batches in the worker: an `infer` whose items start with the TASK_TENSOR (see
 * workers/protocol.ts) goes here instead of the tensor path. Each item's settings are parsed, the
 * batch runs through its task's module, and answers travel inline (they are small: one vector per text).
 */
import type * as ort from "onnxruntime-node";
import { TASK_TENSOR, type TaskSettings, type TensorSpec, type TransportTensor, type WireTensor } from "../protocol.ts";
import { describeSession } from "../session.ts";
import { runTxt2Embed } from "./txt2embed.ts";

const signatures = new WeakMap<ort.InferenceSession, TensorSpec[]>();

/** True when this batch is a task batch rather than plain tensors. */
export function isTaskBatch(items: TransportTensor[][]): boolean {
  return items[0]?.[0]?.name === TASK_TENSOR;
}

/** Runs a task batch; answers one list of inline tensors per item. */
export async function runTask(session: ort.InferenceSession, items: TransportTensor[][]): Promise<WireTensor[][]> {
  let inputs = signatures.get(session);
  if (!inputs) {
    inputs = describeSession(session).inputs;
    signatures.set(session, inputs);
  }
  const parsed = items.map((item) => {
    const [settings, texts] = item as WireTensor[];
    if (settings?.name !== TASK_TENSOR || !texts || !Array.isArray(settings.data) || !Array.isArray(texts.data)) {
      throw new Error("task batch item without its settings and texts (this is a bug)");
    }
    return { settings: JSON.parse(settings.data[0]!) as TaskSettings, texts: texts.data };
  });
  const task = parsed[0]!.settings.task;
  if (task === "txt2embed") return runTxt2Embed(session, inputs, parsed);
  throw new Error(`the worker has no task "${String(task)}" (this is a bug)`);
}
