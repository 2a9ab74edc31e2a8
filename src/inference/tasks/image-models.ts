/**
 * img2embed and img2label on the server side: shapes the worker's answer (workers/tasks/image-models.ts).
 * Embeddings leave as the model gives them unless the request asks for L2 normalisation.
 */
import type { WireTensor } from "../../../workers/protocol.ts";
import { outputOf } from "./image-request.ts";
import { l2Normalized } from "./txt2embed.ts";

export interface ScoredLabel {
  label: string;
  score: number;
}

/** One vector per image. */
export function imageEmbeddings(outputs: WireTensor[], normalize = false): Float32Array[] {
  const embeddings = outputOf(outputs, "embeddings");
  const [count, dimensions] = embeddings.shape as [number, number];
  const data = embeddings.data as Float32Array;
  return Array.from({ length: count }, (_, row) => {
    const vector = data.slice(row * dimensions, (row + 1) * dimensions);
    return normalize ? l2Normalized(vector) : vector;
  });
}

/** Per image, its top labels with their softmax scores, best first. */
export function imageLabels(outputs: WireTensor[]): ScoredLabel[][] {
  const labels = outputOf(outputs, "labels");
  const scores = outputOf(outputs, "scores").data as Float32Array;
  const [count, k] = labels.shape as [number, number];
  return Array.from({ length: count }, (_, row) =>
    Array.from({ length: k }, (_, rank) => ({ label: (labels.data as string[])[row * k + rank]!, score: scores[row * k + rank]! })),
  );
}
