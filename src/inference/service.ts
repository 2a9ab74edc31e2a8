/**
 * The one inference service every protocol calls: resolve the model in the registry, validate the
 * request against its signature, queue it on the model's scheduler (priority, deadline, batching),
 * and shape the response. Adapters build an `InferenceRequest`; they never touch the scheduler,
 * the pool, or workers themselves.
 */
import type { Span } from "@opentelemetry/api";
import { type Clock, nowMilliseconds, systemClock } from "../clock.ts";
import { ModelMoraError, invalidInput } from "../errors.ts";
import { modelKey, type ModelVersionIdentity } from "../lifecycle/model-key.ts";
import type { WorkerPool } from "../lifecycle/pool.ts";
import type { Tracing } from "../observability/tracing.ts";
import type { SharedMemory } from "../lifecycle/shared-memory.ts";
import type { ResolvedVersion, ModelRegistry } from "../registry/registry.ts";
import { type ItemOutcome, type ModelQueueStats, effectiveTimeout } from "../scheduler/model-scheduler.ts";
import { Scheduler, type SchedulerOptions } from "../scheduler/scheduler.ts";
import type { TransportTensor, WireTensor } from "../../workers/protocol.ts";
import { AdmissionGate, FREE_PASS, type ReadTurn } from "./admission-gate.ts";
import { batchOptions, batchRows, batchSignature, isBatchable, queuePolicy } from "./batch-policy.ts";
import { type PlacedInputs, placeInputs } from "./input-placement.ts";
import type { Priority } from "./priority.ts";
import { type RequestSpans, RequestTracing } from "./request-tracing.ts";
import type { InferenceRequest, InferenceResponse, PreparedRequest, TensorInferenceResponse } from "./requests.ts";
import { withDeadline } from "./running-deadline.ts";
import { checkInputs, encodeOutputs } from "./tensor-codec.ts";

export type { InferenceRequest, InferenceResponse, PreparedRequest, TensorInferenceResponse, WireTensor } from "./requests.ts";
export { isBatchable } from "./batch-policy.ts";

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
  private readonly tracing: RequestTracing;
  /** The scheduler's clock: request deadlines are kept on it too. */
  private readonly clock: Clock;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly pool: WorkerPool,
    /** Where request tensors are written; without it (tests of the codec path) they travel inline. */
    private readonly sharedMemory: SharedMemory | undefined,
    { tracing, ...schedulerOptions }: Omit<SchedulerOptions<QueuedInference, ItemAnswer>, "runBatch"> & { tracing?: Tracing } = {},
  ) {
    this.tracing = new RequestTracing(tracing);
    this.clock = schedulerOptions.clock ?? systemClock;
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
   * Waits until a request of `priority` for this model may read its body: at once while its queue
   * is short, else in priority order as the queue drains; the turn's `parse` then waits for its
   * turn to parse it (see admission-gate.ts). Unknown models get turns at once; the request itself
   * then reports the error. `bodyBytes` (the declared length; 0 when unknown) counts against the
   * model's read-ahead budget.
   */
  async turn(model: string, version: string | undefined, priority: Priority, signal?: AbortSignal, bodyBytes = 0): Promise<ReadTurn> {
    let target: ResolvedVersion;
    try {
      target = await this.registry.resolve(model, version);
    } catch {
      return FREE_PASS;
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
    return gate.turn(priority, signal, bodyBytes);
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
  withTensors<T>(request: InferenceRequest, use: (response: TensorInferenceResponse) => T | Promise<T>): Promise<T> {
    return this.answered(request, (target, answer) =>
      use({
        model_name: target.name,
        model_version: target.version,
        ...(request.id !== undefined && { id: request.id }),
        outputs: answer.outputs,
      }),
    );
  }

  /**
   * Runs a task request (txt2embed …) whose worker inputs `prepare` builds from the resolved version;
   * answers the outputs (the caller's own copies) with the version that ran.
   */
  runPrepared(request: PreparedRequest): Promise<{ target: ResolvedVersion; outputs: WireTensor[] }> {
    return this.answered(request, (target, answer) => ({ target, outputs: answer.outputs.map(ownCopy) }));
  }

  /** Runs the request, traced, and lends its answer to `use`; the answer's shared memory is released once `use` settles. */
  private async answered<T>(request: InferenceRequest | PreparedRequest, use: (target: ResolvedVersion, answer: ItemAnswer) => T | Promise<T>): Promise<T> {
    const span = this.tracing.startRequest(request);
    try {
      const { target, answer } = await this.run(request, span);
      try {
        return await use(target, answer);
      } finally {
        answer.release();
      }
    } catch (error) {
      this.tracing.failRequest(span, error);
      throw error;
    } finally {
      span?.end();
    }
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
      return { target, answer: await withDeadline(work, deadlineAtMilliseconds, request.model, this.clock) };
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
    const deadlineAtMilliseconds = timeoutMicroseconds > 0 ? nowMilliseconds(this.clock) + timeoutMicroseconds / 1000 : undefined;
    const key = modelKey(target);
    const batchable = isBatchable(target);
    let rows = 1;
    let signature = "";
    let outputNames: string[] | undefined;
    let placed: PlacedInputs;
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
      placed = await placeInputs(this.sharedMemory, key, target, checked, deadlineAtMilliseconds, request.signal);
    }
    const { inputs, free } = placed;

    const modelScheduler = this.scheduler.forModel(key, queuePolicy(target, batchable));
    let work: Promise<ItemAnswer>;
    try {
      work = modelScheduler.enqueue({
        payload: { target, inputs, outputNames, deadlineAtMilliseconds, keepAliveSeconds: request.keepAliveSeconds, spans: this.tracing.startQueue(span, target) },
        priority: request.priority,
        signature,
        rows,
        timeoutMicroseconds: deadlineAtMilliseconds === undefined ? undefined : Math.max(1, (deadlineAtMilliseconds - nowMilliseconds(this.clock)) * 1000),
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

  /**
   * The one batch runner, for every model: the pool runs the batch with the config its requests
   * were resolved with (the last request's, should a config change fall between them).
   */
  private async runBatch(payloads: QueuedInference[]): Promise<ItemOutcome<ItemAnswer>[]> {
    const target = payloads[payloads.length - 1]!.target;
    const batchSpans = this.tracing.startBatch(payloads);
    try {
      const result = await this.pool.infer(target, payloads.map((payload) => payload.inputs), payloads[0]!.outputNames, batchOptions(payloads));
      this.tracing.endBatch(batchSpans, result);
      return result.itemOutputs.map((outputs, index): ItemOutcome<ItemAnswer> => ({
        ok: true,
        value: { outputs, release: () => result.release?.(index) },
      }));
    } catch (error) {
      this.tracing.failBatch(batchSpans, error);
      throw error;
    }
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

/** Outputs the caller may keep after the answer's shared memory is released. */
function ownCopy(tensor: WireTensor): WireTensor {
  return { ...tensor, data: tensor.data.slice() };
}
