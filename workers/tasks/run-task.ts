/**
 * Task batches in the worker: an `infer` whose items start with the TASK_TENSOR (see
 * workers/protocol.ts) goes here instead of the tensor path. Each item's settings are parsed, the
 * batch runs through its task's module, and answers travel inline (they are small: one vector per text).
 */
import type * as ort from "onnxruntime-node";
import { type ImageTaskSettings, TASK_TENSOR, type TaskSettings, type TensorSpec, type TransportTensor, type Txt2EmbedSettings, type WireTensor } from "../protocol.ts";
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
    const [settings, ...rest] = item as WireTensor[];
    if (settings?.name !== TASK_TENSOR || !Array.isArray(settings.data)) throw new Error("task batch item without its settings (this is a bug)");
    return { settings: JSON.parse(settings.data[0]!) as TaskSettings, tensors: rest };
  });
  const first = parsed[0]!.settings;
  if (first.task === "txt2embed") {
    return runTxt2Embed(session, inputs, parsed.map(({ settings, tensors }) => ({ settings: settings as Txt2EmbedSettings, texts: textsOf(tensors) })));
  }
  const images = parsed.map(({ settings, tensors }) => ({ settings: settings as ImageTaskSettings, images: tensors.map(imageBytes) }));
  // Image tasks load sharp (libvips) on first use only: tensor and text workers never load it.
  if (first.task === "img2txt") return (await import("./img2txt.ts")).runImg2Txt(session, images);
  if (first.task === "img2embed" || first.task === "img2label") return (await import("./image-models.ts")).runImageModel(session, inputs, images);
  throw new Error(`the worker has no task "${String(first.task)}" (this is a bug)`);
}

function textsOf(tensors: WireTensor[]): string[] {
  const texts = tensors[0];
  if (!texts || !Array.isArray(texts.data)) throw new Error("txt2embed item without its texts (this is a bug)");
  return texts.data;
}

function imageBytes(tensor: WireTensor): Uint8Array {
  if (!(tensor.data instanceof Uint8Array)) throw new Error("image task item with an image that is not UINT8 bytes (this is a bug)");
  return tensor.data;
}
