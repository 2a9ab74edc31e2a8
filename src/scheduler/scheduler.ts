/**
 * The schedulers of all model versions: one `ModelScheduler` (queue + dispatcher) per model key,
 * created on first use and reconfigured when the model's config changes. Every one of them hands
 * its batches to the one `runBatch` given here (the inference layer's runner over the worker pool),
 * which reads each request's own config from its payload: nothing captured at first use goes stale.
 */
import { ModelMoraError } from "../errors.ts";
import { type Clock, systemClock } from "../clock.ts";
import { type ModelQueueStats, ModelScheduler, type QueuePolicy, type RunBatch, type SchedulerObserver } from "./model-scheduler.ts";

export interface SchedulerOptions<P, R> {
  runBatch: RunBatch<P, R>;
  clock?: Clock;
  observer?: SchedulerObserver;
}

export class Scheduler<P, R> {
  private readonly models = new Map<string, ModelScheduler<P, R>>();
  private readonly clock: Clock;
  private readonly observer: SchedulerObserver;
  private readonly runBatch: RunBatch<P, R>;

  constructor(options: SchedulerOptions<P, R>) {
    this.runBatch = options.runBatch;
    this.clock = options.clock ?? systemClock;
    this.observer = options.observer ?? {};
  }

  /** The scheduler for `model` (a model key), with `policy` in force. */
  forModel(model: string, policy: QueuePolicy): ModelScheduler<P, R> {
    const existing = this.models.get(model);
    if (!existing) {
      const created = new ModelScheduler(model, policy, this.runBatch, this.clock, this.observer);
      this.models.set(model, created);
      return created;
    }
    if (!samePolicy(existing.currentPolicy, policy)) existing.reconfigure(policy);
    return existing;
  }

  /** Rejects the queued requests of `model` (e.g. it was deleted) and forgets its scheduler. */
  remove(model: string, error: ModelMoraError): void {
    this.models.get(model)?.close(error);
    this.models.delete(model);
  }

  /** Resolves once `model` (or, without one, every model) has nothing queued or running. */
  async whenIdle(model?: string): Promise<void> {
    if (model !== undefined) return this.models.get(model)?.whenIdle();
    await Promise.all([...this.models.values()].map((scheduler) => scheduler.whenIdle()));
  }

  /** Requests queued (not yet running) for `model`. */
  queued(model: string): number {
    return this.models.get(model)?.queuedCount ?? 0;
  }

  stats(): Record<string, ModelQueueStats> {
    return Object.fromEntries([...this.models].map(([model, scheduler]) => [model, scheduler.stats()]));
  }

  close(): void {
    const error = new ModelMoraError("SHUTTING_DOWN", "server is shutting down");
    for (const scheduler of this.models.values()) scheduler.close(error);
    this.models.clear();
  }
}

function samePolicy(left: QueuePolicy, right: QueuePolicy): boolean {
  return (
    left.maxBatchSize === right.maxBatchSize &&
    left.maxQueueDelayMicroseconds === right.maxQueueDelayMicroseconds &&
    left.maxQueueSize === right.maxQueueSize &&
    left.defaultTimeoutMicroseconds === right.defaultTimeoutMicroseconds &&
    left.timeoutAction === right.timeoutAction &&
    left.concurrency === right.concurrency &&
    left.preferredBatchSizes.length === right.preferredBatchSizes.length &&
    left.preferredBatchSizes.every((size, index) => size === right.preferredBatchSizes[index])
  );
}
