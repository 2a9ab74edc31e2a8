/**
 * The one inference service every protocol calls: resolve the model in the registry, validate the
 * request against its signature, queue it on the model's scheduler (priority, deadline, batching),
 * and shape the response. Adapters build an `InferenceRequest`; they never touch the scheduler,
 * the pool, or workers themselves.
 */
import { ModelMoraError, invalidInput } from "../errors.ts";
import type { InferOptions, WorkerPool } from "../lifecycle/pool.ts";
import type { ResolvedVersion, ModelRegistry } from "../registry/registry.ts";
import { type ItemOutcome, type ModelQueueStats, type QueuePolicy, type RunBatch, effectiveTimeout } from "../scheduler/model-scheduler.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { WireTensor } from "../../workers/protocol.ts";
import type { Priority } from "./priority.ts";
import { decodeInputs, encodeOutputs, type InputTensor, type JsonOutputTensor } from "./tensor-codec.ts";

export interface InferenceRequest {
  model: string;
  /** A specific version; the model's active version when absent. */
  version?: string;
  /** Echoed in the response, as KServe v2 does. */
  id?: string;
  inputs: InputTensor[];
  /** Output names to return; all outputs when absent. */
  outputs?: { name: string }[];
  priority: Priority;
  /** Per-request deadline; may only shorten the model's `defaultTimeoutMicroseconds`. */
  timeoutMicroseconds?: number;
  /** Aborted when the client goes away: a queued request is dropped and never runs. */
  signal?: AbortSignal;
  /** How long the model stays loaded after this request (0 = unload when idle, -1 = forever). */
  keepAliveSeconds?: number;
}

export interface InferenceResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: JsonOutputTensor[];
}

/** The same answer with outputs as typed arrays, for transports that send raw bytes. */
export interface TensorInferenceResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: WireTensor[];
}

/** What the scheduler carries per request, and what it hands back. */
export interface QueuedInference {
  inputs: WireTensor[];
  outputNames: string[] | undefined;
  /** When the request's deadline passes (epoch milliseconds); undefined = none. */
  deadlineAtMilliseconds: number | undefined;
  keepAliveSeconds: number | undefined;
}

export type InferenceScheduler = Scheduler<QueuedInference, WireTensor[]>;

export class InferenceService {
  private accepting = true;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly pool: WorkerPool,
    private readonly scheduler: InferenceScheduler,
  ) {}

  /** Inference with outputs as JSON tensors. */
  async infer(request: InferenceRequest): Promise<InferenceResponse> {
    const response = await this.inferTensors(request);
    return { ...response, outputs: encodeOutputs(response.outputs) };
  }

  /** Inference with outputs as typed arrays (binary and gRPC transports encode them themselves). */
  async inferTensors(request: InferenceRequest): Promise<TensorInferenceResponse> {
    if (!this.accepting) throw new ModelMoraError("SHUTTING_DOWN", "server is shutting down");
    const target = await this.registry.resolve(request.model, request.version);
    const inputs = decodeInputs(request.inputs, target.inputs);
    const outputNames = request.outputs?.map((output, index) => {
      if (!target.outputs.some((spec) => spec.name === output.name)) {
        throw invalidInput(`outputs[${index}].name: model has no output "${output.name}"`, { field: `outputs[${index}].name` });
      }
      return output.name;
    });
    const batchable = isBatchable(target);
    const rows = batchable ? batchRows(inputs) : 1;
    // The queue drops requests whose deadline passes while queued; this bounds the whole answer.
    const timeoutMicroseconds = effectiveTimeout(request.timeoutMicroseconds, target.config.defaultTimeoutMicroseconds);
    const modelScheduler = this.scheduler.forModel(schedulerKey(target), queuePolicy(target, batchable), () => this.runBatchFor(target));
    const work = modelScheduler.enqueue({
      payload: {
        inputs,
        outputNames,
        deadlineAtMilliseconds: timeoutMicroseconds > 0 ? Date.now() + timeoutMicroseconds / 1000 : undefined,
        keepAliveSeconds: request.keepAliveSeconds,
      },
      priority: request.priority,
      signature: batchable ? batchSignature(inputs, outputNames) : "",
      rows,
      timeoutMicroseconds: request.timeoutMicroseconds,
      signal: request.signal,
    });
    const outputs = timeoutMicroseconds > 0 ? await withDeadline(work, timeoutMicroseconds, request.model) : await work;
    return {
      model_name: target.name,
      model_version: target.version,
      ...(request.id !== undefined && { id: request.id }),
      outputs,
    };
  }

  /** Queue counters per model version (`name@version#sha256`). */
  queueStats(): Record<string, ModelQueueStats> {
    return this.scheduler.stats();
  }

  /** Shutdown has begun: new requests get SHUTTING_DOWN; queued and running ones go on. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Resolves once no request is queued or running, on any model. */
  drained(): Promise<void> {
    return this.scheduler.whenIdle();
  }

  /** Resolves once no request for this model version is queued or running. */
  whenIdle(target: Pick<ResolvedVersion, "name" | "version" | "sha256">): Promise<void> {
    return this.scheduler.whenIdle(schedulerKey(target));
  }

  /** Drops the queued requests of a model version (it was deleted or replaced). */
  forget(target: Pick<ResolvedVersion, "name" | "version" | "sha256">): void {
    this.scheduler.remove(schedulerKey(target), new ModelMoraError("MODEL_NOT_FOUND", `model "${target.name}" version ${target.version} was removed`));
  }

  private runBatchFor(target: ResolvedVersion): RunBatch<QueuedInference, WireTensor[]> {
    return async (payloads) => {
      const result = await this.pool.infer(
        target,
        payloads.map((payload) => payload.inputs),
        payloads[0]!.outputNames,
        batchOptions(payloads),
      );
      return result.itemOutputs.map((outputs): ItemOutcome<WireTensor[]> => ({ ok: true, value: outputs }));
    };
  }
}

/**
 * What a batch asks of the pool: it may wait for memory until its last request's deadline (none if
 * any request has none), and the longest keep-alive any request asked for wins (-1 beats all).
 */
function batchOptions(payloads: QueuedInference[]): InferOptions {
  let deadlineAtMilliseconds: number | undefined = 0;
  let keepAliveSeconds: number | undefined;
  for (const payload of payloads) {
    if (deadlineAtMilliseconds !== undefined) {
      deadlineAtMilliseconds = payload.deadlineAtMilliseconds === undefined ? undefined : Math.max(deadlineAtMilliseconds, payload.deadlineAtMilliseconds);
    }
    const wanted = payload.keepAliveSeconds;
    if (wanted !== undefined && keepAliveSeconds !== -1) keepAliveSeconds = wanted === -1 || keepAliveSeconds === undefined ? wanted : Math.max(keepAliveSeconds, wanted);
  }
  return { deadlineAtMilliseconds, keepAliveSeconds };
}

/** A model batches when every input and output has a dynamic dim 0. */
export function isBatchable(target: Pick<ResolvedVersion, "inputs" | "outputs">): boolean {
  return [...target.inputs, ...target.outputs].every((spec) => spec.shape.length > 0 && spec.shape[0] === -1);
}

function queuePolicy(target: ResolvedVersion, batchable: boolean): QueuePolicy {
  const { config } = target;
  return {
    maxBatchSize: batchable ? config.maxBatchSize : 0,
    preferredBatchSizes: config.preferredBatchSizes,
    maxQueueDelayMicroseconds: config.maxQueueDelayMicroseconds,
    maxQueueSize: config.maxQueueSize,
    defaultTimeoutMicroseconds: config.defaultTimeoutMicroseconds,
    timeoutAction: config.timeoutAction,
    concurrency: Math.max(1, config.replicas),
  };
}

/** The file's hash is part of the key: a version re-registered from another file gets a fresh queue. */
function schedulerKey(target: Pick<ResolvedVersion, "name" | "version" | "sha256">): string {
  return `${target.name}@${target.version}#${target.sha256}`;
}

function batchRows(inputs: WireTensor[]): number {
  const rows = inputs[0]!.shape[0]!;
  inputs.forEach((input, index) => {
    if (input.shape[0] !== rows) {
      throw invalidInput(`inputs[${index}].shape: dimension 0 is ${input.shape[0]} but inputs[0] has ${rows}; batch dimensions must agree`, {
        field: `inputs[${index}].shape`,
      });
    }
  });
  return rows;
}

/** Requests batch together when everything but dim 0 matches, and they ask for the same outputs. */
function batchSignature(inputs: WireTensor[], outputNames: string[] | undefined): string {
  let signature = outputNames ? outputNames.join(",") : "*";
  for (const input of inputs) signature += `|${input.name}:${input.datatype}:${input.shape.slice(1).join("x")}`;
  return signature;
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
