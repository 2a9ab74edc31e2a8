/**
 * One model version's queue and dispatcher. The only owner of its heap: callers get a promise from
 * `enqueue`; nothing else touches queued entries.
 *
 * - Order: strict priority (1 = highest), FIFO within a level (heap key = priority, sequence).
 * - Limits: `maxQueueSize` (0 = unbounded) → QUEUE_FULL; a deadline (`defaultTimeoutMicroseconds`,
 *   which a request's own timeout may only shorten) that passes while queued → INFERENCE_TIMEOUT,
 *   or with `timeoutAction: "delay"` the request drops behind every other priority level instead.
 * - Cancellation: an aborted `signal` removes a queued request; it never runs.
 * - Dispatch: at most `concurrency` batches in flight (one per worker replica); batches are formed
 *   by `formBatch` from requests with the same `signature` (same inputs apart from dim 0). A batch
 *   that takes every request gathered is shared among the idle replicas (`shareBatch`).
 *
 * Queued requests leave the heap lazily: a cancelled or expired one is marked dead and skipped when popped.
 */
import { ModelMoraError } from "../errors.ts";
import { type BatchCandidate, formBatch, shareBatch } from "./batch-former.ts";
import type { Clock } from "../clock.ts";
import { PriorityHeap, schedulingKey } from "./heap.ts";
import { DEAD, DELAYED_PRIORITY, DISPATCHED, QUEUED, type QueuedRequest, cancelledError, settle } from "./queued-request.ts";
import { type EnqueueOptions, type ItemOutcome, type ModelQueueStats, type QueuePolicy, type RunBatch, type SchedulerObserver, effectiveTimeout } from "./queue-contract.ts";

export type { EnqueueOptions, ItemOutcome, ModelQueueStats, QueuePolicy, RunBatch, SchedulerObserver } from "./queue-contract.ts";
export { effectiveTimeout } from "./queue-contract.ts";

/** How many incompatible requests batch gathering may look past. */
const GATHER_LOOKAHEAD = 64;

export class ModelScheduler<P, R> {
  private readonly heap = new PriorityHeap<QueuedRequest<P, R>>();
  private sequence = 0;
  private live = 0;
  private dead = 0;
  private inFlightBatches = 0;
  private cancelWaitTimer: (() => void) | undefined;
  private waitTimerDueMicroseconds = Number.POSITIVE_INFINITY;
  private pumping = false;
  private closedWith: ModelMoraError | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly counters = { enqueued: 0, dispatched: 0, batches: 0, rejectedQueueFull: 0, expired: 0, cancelled: 0 };

  constructor(
    readonly model: string,
    private policy: QueuePolicy,
    private readonly runBatch: RunBatch<P, R>,
    private readonly clock: Clock,
    private readonly observer: SchedulerObserver = {},
  ) {}

  /** Replaces the policy (config changed); queued requests stay queued. */
  reconfigure(policy: QueuePolicy): void {
    this.policy = policy;
    this.pump();
  }

  get queuedCount(): number {
    return this.live;
  }

  get currentPolicy(): QueuePolicy {
    return this.policy;
  }

  enqueue(options: EnqueueOptions<P>): Promise<R> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const { policy } = this;
    if (policy.maxQueueSize > 0 && this.live >= policy.maxQueueSize) {
      this.counters.rejectedQueueFull++;
      return Promise.reject(
        new ModelMoraError("QUEUE_FULL", `queue of "${this.model}" is full (${policy.maxQueueSize} requests)`, { maxQueueSize: policy.maxQueueSize, retryAfterSeconds: 1 }),
      );
    }
    if (options.signal?.aborted) return Promise.reject(cancelledError(this.model));

    return new Promise<R>((resolve, reject) => {
      const request: QueuedRequest<P, R> = {
        key: schedulingKey(options.priority, this.sequence++),
        state: QUEUED,
        payload: options.payload,
        priority: options.priority,
        signature: options.signature,
        rows: options.rows,
        enqueuedAtMicroseconds: this.clock.nowMicroseconds(),
        resolve,
        reject,
        cancelDeadline: undefined,
        signal: options.signal,
        onAbort: undefined,
      };
      const timeoutMicroseconds = effectiveTimeout(options.timeoutMicroseconds, policy.defaultTimeoutMicroseconds);
      if (timeoutMicroseconds > 0) request.cancelDeadline = this.clock.setTimer(() => this.onDeadline(request), timeoutMicroseconds);
      if (options.signal) {
        request.onAbort = () => this.onAbort(request);
        options.signal.addEventListener("abort", request.onAbort, { once: true });
      }
      this.heap.push(request.key, request);
      this.live++;
      this.counters.enqueued++;
      this.pump();
    });
  }

  stats(): ModelQueueStats {
    return { queued: this.live, inFlightBatches: this.inFlightBatches, ...this.counters };
  }

  /** Resolves once nothing is queued and no batch is running (at once if so already). */
  whenIdle(): Promise<void> {
    if (this.live === 0 && this.inFlightBatches === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.length === 0 || this.live !== 0 || this.inFlightBatches !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Rejects every queued request with `error`; later enqueues fail with it too. */
  close(error: ModelMoraError): void {
    this.closedWith = error;
    this.cancelWaitTimer?.();
    for (let request = this.heap.pop(); request; request = this.heap.pop()) {
      if (request.state !== QUEUED) continue;
      this.retire(request);
      request.reject(error);
    }
    this.notifyIfIdle();
  }

  private onDeadline(request: QueuedRequest<P, R>): void {
    if (request.state !== QUEUED) return;
    request.cancelDeadline = undefined;
    if (this.policy.timeoutAction === "delay") {
      // Re-queue behind every priority level: the old heap slot dies, a new one takes its place.
      const moved: QueuedRequest<P, R> = { ...request, key: schedulingKey(DELAYED_PRIORITY, this.sequence++), priority: DELAYED_PRIORITY };
      request.state = DEAD;
      this.dead++;
      if (request.signal && request.onAbort) {
        request.signal.removeEventListener("abort", request.onAbort);
        moved.onAbort = () => this.onAbort(moved);
        request.signal.addEventListener("abort", moved.onAbort, { once: true });
      }
      this.heap.push(moved.key, moved);
      this.pump();
      return;
    }
    this.retire(request);
    this.counters.expired++;
    request.reject(new ModelMoraError("INFERENCE_TIMEOUT", `request to "${this.model}" passed its deadline while queued`));
    this.pump();
  }

  private onAbort(request: QueuedRequest<P, R>): void {
    if (request.state !== QUEUED) return;
    this.retire(request);
    this.counters.cancelled++;
    request.reject(cancelledError(this.model));
    this.notifyIfIdle();
  }

  /** Takes a queued request out of the live count; its heap slot is skipped when popped. */
  private retire(request: QueuedRequest<P, R>): void {
    request.state = DEAD;
    this.live--;
    this.dead++;
    this.detach(request);
    if (this.dead > 1024 && this.dead > this.live) {
      this.heap.removeWhere((candidate) => candidate.state !== QUEUED);
      this.dead = 0;
    }
  }

  private detach(request: QueuedRequest<P, R>): void {
    request.cancelDeadline?.();
    request.cancelDeadline = undefined;
    if (request.signal && request.onAbort) request.signal.removeEventListener("abort", request.onAbort);
    request.onAbort = undefined;
  }

  /** Dispatches batches while a replica is free; the single place that pops the heap. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.inFlightBatches < this.policy.concurrency && this.live > 0) {
        if (this.policy.maxBatchSize <= 1) {
          const request = this.popLive();
          if (!request) break;
          this.dispatch([request]);
          continue;
        }
        if (!this.gatherAndMaybeDispatch()) break;
      }
    } finally {
      this.pumping = false;
    }
    this.notifyIfIdle();
  }

  private popLive(): QueuedRequest<P, R> | undefined {
    for (let request = this.heap.pop(); request; request = this.heap.pop()) {
      if (request.state === QUEUED) return request;
      this.dead--;
    }
    return undefined;
  }

  /** Forms one batch from the head; returns false when it decided to wait. */
  private gatherAndMaybeDispatch(): boolean {
    const head = this.popLive();
    if (!head) return false;
    const { maxBatchSize } = this.policy;
    const compatible: QueuedRequest<P, R>[] = [head];
    const setAside: QueuedRequest<P, R>[] = [];
    let rows = head.rows;
    while (rows <= maxBatchSize && setAside.length < GATHER_LOOKAHEAD) {
      const next = this.popLive();
      if (!next) break;
      if (next.signature === head.signature) {
        compatible.push(next);
        rows += next.rows;
      } else {
        setAside.push(next);
      }
    }
    const now = this.clock.nowMicroseconds();
    const decision = formBatch(compatible as BatchCandidate[], this.policy, now);
    const taken = decision.kind === "send" ? decision.count : 0;
    for (let index = taken; index < compatible.length; index++) this.heap.push(compatible[index]!.key, compatible[index]!);
    for (const request of setAside) this.heap.push(request.key, request);
    if (decision.kind === "wait") {
      this.scheduleWait(now + decision.microseconds);
      return false;
    }
    const idleReplicas = taken === compatible.length ? this.policy.concurrency - this.inFlightBatches : 1;
    let start = 0;
    for (const count of shareBatch(compatible.slice(0, taken).map((request) => request.rows), idleReplicas)) {
      this.dispatch(compatible.slice(start, start + count));
      start += count;
    }
    return true;
  }

  private scheduleWait(dueMicroseconds: number): void {
    if (this.cancelWaitTimer && this.waitTimerDueMicroseconds <= dueMicroseconds) return;
    this.cancelWaitTimer?.();
    this.waitTimerDueMicroseconds = dueMicroseconds;
    this.cancelWaitTimer = this.clock.setTimer(() => {
      this.cancelWaitTimer = undefined;
      this.waitTimerDueMicroseconds = Number.POSITIVE_INFINITY;
      this.pump();
    }, dueMicroseconds - this.clock.nowMicroseconds());
  }

  private dispatch(batch: QueuedRequest<P, R>[]): void {
    const now = this.clock.nowMicroseconds();
    let rows = 0;
    const queueMicroseconds: number[] = [];
    for (const request of batch) {
      request.state = DISPATCHED;
      this.detach(request);
      rows += request.rows;
      queueMicroseconds.push(now - request.enqueuedAtMicroseconds);
    }
    this.live -= batch.length;
    this.inFlightBatches++;
    this.counters.dispatched += batch.length;
    this.counters.batches++;
    this.observer.onDispatch?.(this.model, batch.length, rows, queueMicroseconds);
    const startedAt = now;
    let outcomes: Promise<ItemOutcome<R>[]>;
    try {
      outcomes = this.runBatch(batch.map((request) => request.payload));
    } catch (error) {
      outcomes = Promise.reject(error);
    }
    settle(batch, outcomes).finally(() => {
      this.inFlightBatches--;
      this.observer.onComplete?.(this.model, batch.length, this.clock.nowMicroseconds() - startedAt);
      this.pump();
    });
  }
}
