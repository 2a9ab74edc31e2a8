/**
 * Image task requests on the server side (img2txt, img2embed, img2label): the encoded images travel
 * to the model's worker as they came (one UINT8 tensor each), and the worker decodes, checks and
 * preprocesses them for a whole batch (workers/tasks/image-items.ts). The server does not decode:
 * decoding and resizing are most of the cost of a small image model, and in the worker they run
 * beside the model, out of the server's event loop, for every request of the batch at once.
 */
import { invalidInput } from "../../errors.ts";
import type { ResolvedVersion } from "../../registry/registry.ts";
import { type ImageTaskSettings, TASK_TENSOR, type WireTensor } from "../../../workers/protocol.ts";
import type { InferenceService } from "../service.ts";
import { controlsOf, type RequestControls } from "../requests.ts";

/** Most images one request may carry. */
export const MAX_IMAGES_PER_REQUEST = 64;

/**
 * Largest image, in pixels, a worker decodes (about 40 megapixels, 120 MB of RGB). The header is
 * checked before decoding, so a small file declaring a larger canvas (a decompression bomb) costs nothing.
 */
export const MAX_IMAGE_PIXELS = 40_000_000;

export type ImageTask = ImageTaskSettings["task"];

export interface ImageRequest extends RequestControls {
  /** Encoded images (PNG, JPEG or WebP files). */
  images: Uint8Array[];
  /** The request field the images came from, for error messages. */
  field?: string;
  /** img2label: labels per image (default 5). */
  topK?: number;
}

/** Runs `request` against an image-task model; `tasks` are the tasks the caller can answer. */
export async function runImageTask(
  inference: InferenceService,
  request: ImageRequest,
  tasks: readonly ImageTask[],
): Promise<{ target: ResolvedVersion; task: ImageTask; outputs: WireTensor[] }> {
  const field = request.field ?? "images";
  if (request.images.length === 0) throw invalidInput(`${field}: send at least one image`, { field });
  if (request.images.length > MAX_IMAGES_PER_REQUEST) throw invalidInput(`${field}: at most ${MAX_IMAGES_PER_REQUEST} images per request`, { field });
  const { target, outputs } = await inference.runPrepared({
    ...controlsOf(request),
    prepare: (target) => {
      const task = target.task as ImageTask;
      if (!tasks.includes(task)) {
        throw invalidInput(`model "${target.name}" has task "${target.task}", which takes no images (image tasks: ${tasks.join(", ")})`, { field: "model", task: target.task });
      }
      const settings: ImageTaskSettings = { task, files: filesOf(target), maxImagePixels: MAX_IMAGE_PIXELS, ...(request.topK !== undefined && { topK: request.topK }) };
      const inputs: WireTensor[] = [
        { name: TASK_TENSOR, datatype: "BYTES", shape: [1], data: [JSON.stringify(settings)] },
        ...request.images.map((bytes): WireTensor => ({ name: "image", datatype: "UINT8", shape: [bytes.length], data: bytes })),
      ];
      // Pages (img2txt with a detector) differ in size and run one by one; the signature keeps them apart from lines.
      return { inputs, rows: request.images.length, signature: `${task}:${settings.files["det.onnx"] ? "page" : "image"}` };
    },
  });
  const error = outputs.find((output) => output.name === "error");
  if (error) {
    // The worker says "[index] reason"; a request of one image names the field alone.
    const [, index, reason] = /^\[(\d+)\] (.*)$/s.exec((error.data as string[])[0]!) ?? [];
    const where = request.images.length === 1 && field !== "images" ? field : `${field}[${index}]`;
    throw invalidInput(`${where}: ${reason}`, { field: where });
  }
  return { target, task: target.task as ImageTask, outputs };
}

function filesOf(target: ResolvedVersion): ImageTaskSettings["files"] {
  return Object.fromEntries(Object.entries(target.files).map(([name, file]) => [name, { path: file.path, sha256: file.sha256 }]));
}

/** The output `name` of a task answer; its absence is a bug in the worker. */
export function outputOf(outputs: WireTensor[], name: string): WireTensor {
  const output = outputs.find((tensor) => tensor.name === name);
  if (!output) throw new Error(`image task answer without its "${name}" output (this is a bug)`);
  return output;
}
