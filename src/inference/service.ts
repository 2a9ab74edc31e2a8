/**
 * The one inference service every protocol calls: resolve the model in the registry, validate
 * the request against its signature, run it on the model's worker, shape the response.
 * Adapters build an `InferenceRequest`; they never touch the pool or workers themselves.
 */
import { ModelMoraError, invalidInput } from "../errors.ts";
import type { WorkerPool } from "../lifecycle/pool.ts";
import type { ModelRegistry } from "../registry/registry.ts";
import type { Priority } from "./priority.ts";
import { decodeInputs, encodeOutputs, type JsonOutputTensor, type JsonTensor } from "./tensor-codec.ts";

export interface InferenceRequest {
  model: string;
  /** A specific version; the model's active version when absent. */
  version?: string;
  /** Echoed in the response, as KServe v2 does. */
  id?: string;
  inputs: JsonTensor[];
  /** Output names to return; all outputs when absent. */
  outputs?: { name: string }[];
  priority: Priority;
  /** Per-request deadline; may only shorten the model's `defaultTimeoutMicroseconds`. */
  timeoutMicroseconds?: number;
}

export interface InferenceResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: JsonOutputTensor[];
}

export class InferenceService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly pool: WorkerPool,
  ) {}

  async infer(request: InferenceRequest): Promise<InferenceResponse> {
    const target = await this.registry.resolve(request.model, request.version);
    const inputs = decodeInputs(request.inputs, target.inputs);
    const outputNames = request.outputs?.map((output, index) => {
      if (!target.outputs.some((spec) => spec.name === output.name)) {
        throw invalidInput(`outputs[${index}].name: model has no output "${output.name}"`, { field: `outputs[${index}].name` });
      }
      return output.name;
    });
    const timeoutMicroseconds = effectiveTimeout(request.timeoutMicroseconds, target.config.defaultTimeoutMicroseconds);
    const work = this.pool.infer(target, inputs, outputNames);
    const result = timeoutMicroseconds > 0 ? await withDeadline(work, timeoutMicroseconds, request.model) : await work;
    return {
      model_name: target.name,
      model_version: target.version,
      ...(request.id !== undefined && { id: request.id }),
      outputs: encodeOutputs(result.outputs),
    };
  }
}

function effectiveTimeout(requested: number | undefined, modelDefault: number): number {
  if (requested === undefined || requested <= 0) return modelDefault;
  return modelDefault > 0 ? Math.min(requested, modelDefault) : requested;
}

async function withDeadline<T>(work: Promise<T>, timeoutMicroseconds: number, model: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ModelMoraError("INFERENCE_TIMEOUT", `inference on "${model}" did not finish within ${timeoutMicroseconds / 1000} ms`)),
      timeoutMicroseconds / 1000,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
