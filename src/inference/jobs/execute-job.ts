/**
 * Runs a job's stored request through the inference service, exactly as the sync route would have
 * (same validation, scheduler queue, priority and batching), and shapes the same answer.
 */
import type { InferenceService } from "../service.ts";
import { type EmbedResult, embed } from "../tasks/txt2embed.ts";
import type { Priority } from "../priority.ts";
import type { JobRequest } from "./job-types.ts";

/** What `POST /api/v1/infer/{name}` answers to a text body (the REST text route shapes it here too). */
export function embeddingAnswer(result: EmbedResult) {
  return {
    model_name: result.model,
    model_version: result.version,
    embeddings: result.embeddings.map((vector) => Array.from(vector)),
    dimensions: result.dimensions,
    usage: { tokens: result.tokens.reduce((total, tokens) => total + tokens, 0) },
  };
}

export interface JobTarget {
  modelName: string;
  modelVersion: string | null;
  priority: number;
  request: JobRequest;
}

/** The job's answer as JSON; throws what the sync route would have thrown. `signal` stops a job that was cancelled. */
export async function executeJob(inference: InferenceService, job: JobTarget, signal: AbortSignal): Promise<unknown> {
  const { request } = job;
  const common = {
    model: job.modelName,
    version: job.modelVersion ?? undefined,
    priority: job.priority as Priority,
    timeoutMicroseconds: request.timeoutMicroseconds,
    keepAliveSeconds: request.keepAliveSeconds,
    signal,
  };
  if (request.kind === "embed") {
    const result = await embed(inference, { ...common, texts: request.texts, field: request.field, normalize: request.normalize, truncate: request.truncate, dimensions: request.dimensions });
    return embeddingAnswer(result);
  }
  return inference.infer({ ...common, id: request.id, inputs: request.inputs, outputs: request.outputs });
}
