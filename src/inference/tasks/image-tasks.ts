/**
 * Any image task behind one call, for front ends that take images without knowing the model's task
 * (`POST /api/v1/infer/{name}` with `image` / `images` or a raw image body): the answer names its task.
 */
import { type ImageRequest, runImageTask } from "./image-request.ts";
import { imageEmbeddings, imageLabels, type ScoredLabel } from "./image-models.ts";
import { ocrReadings, type OcrReading } from "./img2txt.ts";
import type { InferenceService } from "../service.ts";

export type ImageAnswer =
  | { task: "img2txt"; readings: OcrReading[] }
  | { task: "img2embed"; embeddings: Float32Array[] }
  | { task: "img2label"; labels: ScoredLabel[][] };

export interface ImageTaskResult {
  model: string;
  version: string;
  answer: ImageAnswer;
}

/** Runs `request` against whichever image task its model has; `normalize` applies to img2embed. */
export async function inferImages(inference: InferenceService, request: ImageRequest & { normalize?: boolean }): Promise<ImageTaskResult> {
  const { target, task, outputs } = await runImageTask(inference, request, ["img2txt", "img2embed", "img2label"]);
  const answer: ImageAnswer =
    task === "img2txt"
      ? { task, readings: ocrReadings(outputs) }
      : task === "img2embed"
        ? { task, embeddings: imageEmbeddings(outputs, request.normalize) }
        : { task, labels: imageLabels(outputs) };
  return { model: target.name, version: target.version, answer };
}
