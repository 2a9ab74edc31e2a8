/**
 * Any image task behind one call, for front ends that take images without knowing the model's task
 * (`POST /api/v1/infer/{name}` with `image` / `images` or a raw image body): the answer names its task.
 */
import { type ImageRequest, runImageTask } from "./image-request.ts";
import { ocrReadings, type OcrReading } from "./img2txt.ts";
import type { InferenceService } from "../service.ts";

export type ImageAnswer = { task: "img2txt"; readings: OcrReading[] };

export interface ImageTaskResult {
  model: string;
  version: string;
  answer: ImageAnswer;
}

/** Runs `request` against whichever image task its model has. */
export async function inferImages(inference: InferenceService, request: ImageRequest): Promise<ImageTaskResult> {
  const { target, task, outputs } = await runImageTask(inference, request, ["img2txt"]);
  const answer: ImageAnswer = { task: "img2txt", readings: ocrReadings(outputs) };
  void task;
  return { model: target.name, version: target.version, answer };
}
