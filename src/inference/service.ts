/**
 * The one inference service every protocol calls: resolve the model in the registry, validate the
 * request against its signature, queue it on the model's scheduler (priority, deadline, batching),
 * and shape the response. Adapters build an `InferenceRequest`; they never touch the scheduler,
 * the pool, or workers themselves.
 */
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { ModelMoraError, invalidInput } from "../errors.ts";
import { modelKey, type ModelVersionIdentity } from "../lifecycle/model-key.ts";
import type { InferOptions, WorkerPool } from "../lifecycle/pool.ts";
import type { InferResult } from "../lifecycle/worker-process.ts";
import { NO_TRACING, type TraceCarrier, type Tracing } from "../observability/tracing.ts";
import type { SharedMemory } from "../lifecycle/shared-memory.ts";
import type { ResolvedVersion, ModelRegistry } from "../registry/registry.ts";
import { type ItemOutcome, type ModelQueueStats, type QueuePolicy, effectiveTimeout } from "../scheduler/model-scheduler.ts";
import { timerDelay } from "../scheduler/clock.ts";
import { Scheduler, type SchedulerOptions } from "../scheduler/scheduler.ts";
import type { TransportTensor, WireTensor } from "../../workers/protocol.ts";
import { typedView } from "../../workers/datatypes.ts";
import { AdmissionGate, type Turn } from "./admission-gate.ts";
import type { Priority } from "./priority.ts";
import { type CheckedInputs, checkInputs, encodeOutputs, type InputTensor, type JsonOutputTensor, writeInputs } from "./tensor-codec.ts";

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
  /** The turn this request was given to be parsed (see `turn`); ended once it is queued. */
  turn?: Turn;
  /** W3C trace context the request came with (REST headers, gRPC metadata). */
  trace?: TraceCarrier;
}

export interface InferenceResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: JsonOutputTensor[];
}

/** A task request (txt2embed …): `prepare` turns the resolved version into the worker's inline inputs. */
export interface PreparedRequest extends Omit<InferenceRequest, "inputs" | "outputs" | "id"> {
  /** Throws (INVALID_INPUT …) when the request does not suit the model, e.g. its task. */
  prepare: (target: ResolvedVersion) => { inputs: WireTensor[]; rows: number; signature: string };
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
  /** The model version as resolved for this request: its config applies when the batch runs. */
  target: ResolvedVersion;
  inputs: TransportTensor[];
  outputNames: string[] | undefined;
  /** When the request's deadline passes (epoch milliseconds); undefined = none. */
  deadlineAtMilliseconds: number | undefined;
  keepAliveSeconds: number | undefined;
  /** The request's spans when tracing is on: its own, and its time in the queue (ended at dispatch). */
  spans: RequestSpans | undefined;
}

interface RequestSpans {
  request: Span;
  queue: Span;
}

/** One request's outputs; views into shared memory until `release` is called. */
export interface ItemAnswer {
  outputs: WireTensor[];
  release: () => void;
}

export type InferenceScheduler = Scheduler<QueuedInference, ItemAnswer>;

/**
 * Requests a model's queue holds before further bodies wait to be parsed in priority order: two
 * batches' worth per replica, and never fewer than this, so ordinary concurrency never waits.
 */
const MIN_PARSE_DEPTH = 16;

export class InferenceService {
  private accepting = true;
  private readonly scheduler: InferenceScheduler;
  private readonly gates = new Map<string, AdmissionGate>();
  private readonly tracing: Tracing;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly pool: WorkerPool,
    /** Where request tensors are written; without it (tests of the codec path) they travel inline. */
    private readonly sharedMemory: SharedMemory | undefined,
    { tracing = NO_TRACING, ...schedulerOptions }: Omit<SchedulerOptions<QueuedInference, ItemAnswer>, "runBatch"> & { tracing?: Tracing } = {},
  ) {
    this.tracing = tracing;
    const observer = schedulerOptions.observer;
    this.scheduler = new Scheduler({
      ...schedulerOptions,
      runBatch: (payloads) => this.runBatch(payloads),
      observer: {
        onDispatch: (model, ...rest) => {
          this.gates.get(model)?.pump();
          observer?.onDispatch?.(model, ...rest);
        },
        onComplete: (...args) => observer?.onComplete?.(...args),
      },
    });
  }

  /**
   * Waits until a request of `priority` for this model may be parsed: at once while its queue is
   * short, else in priority order as the queue drains (see admission-gate.ts). Unknown models get
   * a turn at once; the request itself then reports the error.
   */
  async turn(model: string, version: string | undefined, priority: Priority, signal?: AbortSignal): Promise<Turn> {
    let target: ResolvedVersion;
    try {
      target = await this.registry.resolve(model, version);
    } catch {
      return { done: () => undefined };
    }
    const key = modelKey(target);
    const policy = queuePolicy(target, isBatchable(target));
    const depthLimit = Math.max(MIN_PARSE_DEPTH, Math.max(1, policy.maxBatchSize) * policy.concurrency * 2);
    let gate = this.gates.get(key);
    if (!gate) {
      gate = new AdmissionGate(() => this.scheduler.queued(key), depthLimit);
      this.gates.set(key, gate);
    } else {
      gate.setDepthLimit(depthLimit);
    }
    return gate.turn(priority, signal);
  }

  /** Inference with outputs as JSON tensors. */
  infer(request: InferenceRequest): Promise<InferenceResponse> {
    return this.withTensors(request, (response) => ({ ...response, outputs: encodeOutputs(response.outputs) }));
  }

  /** Inference with outputs as typed arrays of their own (binary and gRPC transports encode them). */
  inferTensors(request: InferenceRequest): Promise<TensorInferenceResponse> {
    return this.withTensors(request, (response) => ({ ...response, outputs: response.outputs.map(ownCopy) }));
  }

  /**
   * Inference whose outputs are lent to `use`: typed-array views into shared memory, valid until
   * `use` settles (no copy; StreamInference sends chunks straight from them).
   */
  async withTensors<T>(request: InferenceRequest, use: (response: TensorInferenceResponse) => T | Promise<T>): Promise<T> {
    const span = this.tracing.enabled ? this.startRequestSpan(request) : undefined;
    try {
      const { target, answer } = await this.run(request, span);
      try {
        return await use({
          model_name: target.name,
          model_version: target.version,
          ...(request.id !== undefined && { id: request.id }),
          outputs: answer.outputs,
        });
      } finally {
        answer.release();
      }
    } catch (error) {
      span?.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      if (error instanceof ModelMoraError) span?.setAttribute("modelmora.error_code", error.code);
      throw error;
    } finally {
      span?.end();
    }
  }

  /**
   * Runs a task request (txt2embed …) whose worker inputs `prepare` builds from the resolved version;
   * answers the outputs (the caller's own copies) with the version that ran.
   */
  async runPrepared(request: PreparedRequest): Promise<{ target: ResolvedVersion; outputs: WireTensor[] }> {
    const span = this.tracing.enabled ? this.startRequestSpan(request) : undefined;
    try {
      const { target, answer } = await this.run(request, span);
      try {
        return { target, outputs: answer.outputs.map(ownCopy) };
      } finally {
        answer.release();
      }
    } catch (error) {
      span?.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span?.end();
    }
  }

  private startRequestSpan(request: InferenceRequest | PreparedRequest): Span {
    const parent = this.tracing.extract(request.trace ?? {});
    return this.tracing.tracer.startSpan(
      "modelmora.infer",
      { kind: SpanKind.SERVER, attributes: { "modelmora.model": request.model, "modelmora.priority": request.priority } },
      parent,
    );
  }

  private async run(request: InferenceRequest | PreparedRequest, span: Span | undefined): Promise<{ target: ResolvedVersion; answer: ItemAnswer }> {
    let queued: Awaited<ReturnType<InferenceService["queue"]>>;
    try {
      queued = await this.queue(request, span);
    } finally {
      request.turn?.done(); // queued (or refused): the next request may be parsed
    }
    const { target, work, deadlineAtMilliseconds } = queued;
    if (deadlineAtMilliseconds === undefined) return { target, answer: await work };
    try {
      return { target, answer: await withDeadline(work, deadlineAtMilliseconds, request.model) };
    } catch (error) {
      work.then((late) => late.release(), () => undefined); // answered after the deadline: nobody reads it
      throw error;
    }
  }

  /** Checks and queues the request; resolves with the queued work once it is in the queue. */
  private async queue(request: InferenceRequest | PreparedRequest, span: Span | undefined): Promise<{ target: ResolvedVersion; work: Promise<ItemAnswer>; deadlineAtMilliseconds: number | undefined }> {
    if (!this.accepting) throw new ModelMoraError("SHUTTING_DOWN", "server is shutting down");
    const target = await this.registry.resolve(request.model, request.version);
    // One deadline per request: it bounds the wait for shared memory, the queue and the run.
    const timeoutMicroseconds = effectiveTimeout(request.timeoutMicroseconds, target.config.defaultTimeoutMicroseconds);
    const deadlineAtMilliseconds = timeoutMicroseconds > 0 ? Date.now() + timeoutMicroseconds / 1000 : undefined;
    const key = modelKey(target);
    const batchable = isBatchable(target);
    let rows = 1;
    let signature = "";
    let outputNames: string[] | undefined;
    let placed: { inputs: TransportTensor[]; free: () => void };
    if ("prepare" in request) {
      // Task inputs (texts) are small and travel inline; the worker builds the tensors.
      const prepared = request.prepare(target);
      if (batchable) ({ rows, signature } = prepared);
      placed = { inputs: prepared.inputs, free: () => undefined };
    } else {
      const checked = checkInputs(request.inputs, target.inputs);
      outputNames = request.outputs?.map((output, index) => {
        if (!target.outputs.some((spec) => spec.name === output.name)) {
          throw invalidInput(`outputs[${index}].name: model has no output "${output.name}"`, { field: `outputs[${index}].name` });
        }
        return output.name;
      });
      if (batchable) {
        rows = batchRows(checked);
        signature = batchSignature(checked, outputNames);
      }
      placed = await this.placeInputs(key, target, checked, deadlineAtMilliseconds, request.signal);
    }
    const { inputs, free } = placed;

    const modelScheduler = this.scheduler.forModel(key, queuePolicy(target, batchable));
    let work: Promise<ItemAnswer>;
    try {
      work = modelScheduler.enqueue({
        payload: { target, inputs, outputNames, deadlineAtMilliseconds, keepAliveSeconds: request.keepAliveSeconds, spans: span && this.queueSpans(span, target) },
        priority: request.priority,
        signature,
        rows,
        timeoutMicroseconds: deadlineAtMilliseconds === undefined ? undefined : Math.max(1, (deadlineAtMilliseconds - Date.now()) * 1000),
        signal: request.signal,
      });
    } catch (error) {
      free();
      throw error;
    }
    // The request's shared-memory block is freed only once no worker can read it any more: the
    // request left the queue unrun, or its batch answered or failed.
    work.then(free, free);
    return { target, work, deadlineAtMilliseconds };
  }

  private queueSpans(request: Span, target: ResolvedVersion): RequestSpans {
    request.setAttribute("modelmora.version", target.version);
    return { request, queue: this.tracing.tracer.startSpan("modelmora.queue", {}, trace.setSpan(ROOT_CONTEXT, request)) };
  }

  /** Writes the request's tensors into its model's input arena (waiting for space up to the deadline). */
  private async placeInputs(
    key: string,
    target: ResolvedVersion,
    checked: CheckedInputs,
    deadlineAtMilliseconds: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ inputs: TransportTensor[]; free: () => void }> {
    if (!this.sharedMemory || checked.blockBytes === 0) {
      const block = new Uint8Array(checked.blockBytes);
      return { inputs: inlineCopies(writeInputs(checked, block, 0), block), free: () => undefined };
    }
    const arena = this.sharedMemory.inputArena(key, `model "${target.name}" version ${target.version}`);
    const allocation = arena.allocate(checked.blockBytes, deadlineAtMilliseconds, signal);
    const offset = typeof allocation === "number" ? allocation : await allocation;
    let freed = false;
    const free = () => {
      if (freed) return;
      freed = true;
      arena.free(offset);
    };
    try {
      return { inputs: writeInputs(checked, arena.view(offset, checked.blockBytes), offset), free };
    } catch (error) {
      free();
      throw error;
    }
  }

  /**
   * The one batch runner, for every model: the pool runs the batch with the config its requests
   * were resolved with (the last request's, should a config change fall between them).
   */
  private async runBatch(payloads: QueuedInference[]): Promise<ItemOutcome<ItemAnswer>[]> {
    const target = payloads[payloads.length - 1]!.target;
    const batchSpans = this.tracing.enabled ? this.startBatchSpans(payloads) : undefined;
    try {
      const result = await this.pool.infer(target, payloads.map((payload) => payload.inputs), payloads[0]!.outputNames, batchOptions(payloads));
      if (batchSpans) this.endBatchSpans(payloads, batchSpans, result);
      return result.itemOutputs.map((outputs, index): ItemOutcome<ItemAnswer> => ({
        ok: true,
        value: { outputs, release: () => result.release?.(index) },
      }));
    } catch (error) {
      for (const span of batchSpans ?? []) {
        span?.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        span?.end();
      }
      throw error;
    }
  }

  /** At dispatch: each traced request leaves the queue and enters the batch. */
  private startBatchSpans(payloads: QueuedInference[]): (Span | undefined)[] {
    return payloads.map(({ spans }) => {
      if (!spans) return undefined;
      spans.queue.end();
      return this.tracing.tracer.startSpan("modelmora.batch", { attributes: { "modelmora.batch_size": payloads.length } }, trace.setSpan(ROOT_CONTEXT, spans.request));
    });
  }

  /** The batch answered: its span ends, and the worker's run becomes a span with the worker's own times. */
  private endBatchSpans(payloads: QueuedInference[], batchSpans: (Span | undefined)[], result: InferResult): void {
    payloads.forEach(({ spans }, index) => {
      const batchSpan = batchSpans[index];
      if (!spans || !batchSpan) return;
      if (result.computeStartedAtMilliseconds !== undefined) {
        const startTime = result.computeStartedAtMilliseconds;
        const compute = this.tracing.tracer.startSpan(
          "modelmora.worker.compute",
          { startTime, attributes: { "modelmora.batch_size": payloads.length } },
          trace.setSpan(ROOT_CONTEXT, batchSpan),
        );
        compute.end(startTime + result.computeMicroseconds / 1000);
      }
      batchSpan.end();
    });
  }

  /** Queue counters per model version (`name@version#sha256`). */
  queueStats(): Record<string, ModelQueueStats> {
    return this.scheduler.stats();
  }

  /** Shutdown has begun: new requests get SHUTTING_DOWN; queued and running ones go on. */
  stopAccepting(): void {
    this.accepting = false;
    for (const gate of this.gates.values()) gate.releaseAll();
  }

  /** Resolves once no request is queued or running, on any model. */
  drained(): Promise<void> {
    return this.scheduler.whenIdle();
  }

  /** Resolves once no request for this model version is queued or running. */
  whenIdle(target: ModelVersionIdentity): Promise<void> {
    return this.scheduler.whenIdle(modelKey(target));
  }

  /** Drops the queued requests of a model version (it was deleted or replaced) and its arena. */
  forget(target: ModelVersionIdentity): void {
    const key = modelKey(target);
    this.scheduler.remove(key, new ModelMoraError("MODEL_NOT_FOUND", `model "${target.name}" version ${target.version} was removed`));
    this.gates.get(key)?.releaseAll();
    this.gates.delete(key);
    this.sharedMemory?.dropInputArena(key);
  }

  /** Rejects everything queued (shutdown). */
  close(): void {
    this.scheduler.close();
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

/** Dim 0 of the request's inputs, which all must share; a batch needs at least one row. */
function batchRows(checked: CheckedInputs): number {
  const rows = checked.rows!;
  checked.inputs.forEach(({ tensor, field }) => {
    if (tensor.shape[0] !== rows) {
      throw invalidInput(`${field}.shape: dimension 0 is ${tensor.shape[0]} but inputs[0] has ${rows}; batch dimensions must agree`, {
        field: `${field}.shape`,
      });
    }
  });
  if (rows === 0) throw invalidInput("inputs[0].shape: dimension 0 (the batch) is 0; send at least one row", { field: "inputs[0].shape" });
  return rows;
}

/** Requests batch together when everything but dim 0 matches, and they ask for the same outputs. */
function batchSignature(checked: CheckedInputs, outputNames: string[] | undefined): string {
  let signature = outputNames ? outputNames.join(",") : "*";
  for (const { tensor, spec } of checked.inputs) signature += `|${spec.name}:${spec.datatype}:${tensor.shape.slice(1).join("x")}`;
  return signature;
}

/** Outputs the caller may keep after the answer's shared memory is released. */
function ownCopy(tensor: WireTensor): WireTensor {
  return { ...tensor, data: tensor.data.slice() };
}

/** Shared slices of a private block as typed arrays over it (no shared memory to point into). */
function inlineCopies(tensors: TransportTensor[], block: Uint8Array): WireTensor[] {
  return tensors.map((tensor) => {
    if (!("slice" in tensor)) return tensor;
    const { offset, byteLength } = tensor.slice;
    const copy = block.slice(offset, offset + byteLength);
    const elementCount = tensor.shape.reduce((product, dimension) => product * dimension, 1);
    return { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: typedView(tensor.datatype, copy, 0, elementCount) };
  });
}

/**
 * Bounds a request that is running. One that is still queued at its deadline is expired by its
 * queue (INFERENCE_TIMEOUT, counted as expired, never run); this timer fires a millisecond later so
 * that the queue always answers first for those.
 */
const RUNNING_DEADLINE_LAG_MILLISECONDS = 1;

async function withDeadline<T>(work: Promise<T>, deadlineAtMilliseconds: number, model: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ModelMoraError("INFERENCE_TIMEOUT", `inference on "${model}" did not finish within its deadline`)),
      timerDelay(deadlineAtMilliseconds + RUNNING_DEADLINE_LAG_MILLISECONDS - Date.now()),
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
