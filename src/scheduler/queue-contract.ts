/**
 * The contract of a model's queue: its policy (from the model's config), what a caller enqueues,
 * what the batch runner returns per request, what observers hear, and the counters it keeps.
 * `ModelScheduler` (model-scheduler.ts) implements it.
 */
import type { BatchPolicy } from "./batch-former.ts";

export interface QueuePolicy extends BatchPolicy {
  maxQueueSize: number;
  defaultTimeoutMicroseconds: number;
  timeoutAction: "reject" | "delay";
  /** Batches in flight at once: the number of worker replicas. */
  concurrency: number;
}

export type ItemOutcome<R> = { ok: true; value: R } | { ok: false; error: Error };

/** Runs one batch; resolves with one outcome per payload, in order. */
export type RunBatch<P, R> = (payloads: P[]) => Promise<ItemOutcome<R>[]>;

export interface EnqueueOptions<P> {
  payload: P;
  priority: number;
  /** Requests batch together only when their signatures are equal. */
  signature: string;
  /** dim 0 of the request's inputs. */
  rows: number;
  timeoutMicroseconds?: number;
  signal?: AbortSignal;
}

export interface SchedulerObserver {
  onDispatch?(model: string, batchSize: number, rows: number, queueMicroseconds: readonly number[]): void;
  onComplete?(model: string, batchSize: number, computeMicroseconds: number): void;
}

export interface ModelQueueStats {
  queued: number;
  inFlightBatches: number;
  enqueued: number;
  dispatched: number;
  batches: number;
  rejectedQueueFull: number;
  expired: number;
  cancelled: number;
}

/** A request's timeout may only shorten the model's default; 0 = none. */
export function effectiveTimeout(requested: number | undefined, modelDefault: number): number {
  if (requested === undefined || requested <= 0) return modelDefault;
  return modelDefault > 0 ? Math.min(requested, modelDefault) : requested;
}
