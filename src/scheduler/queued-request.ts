/**
 * A request in a model's queue, from `enqueue` until it is dispatched in a batch, cancelled or
 * expired: its states, and how a dispatched batch's outcomes reach each caller.
 */
import { ModelMoraError } from "../errors.ts";
import type { ItemOutcome } from "./queue-contract.ts";

export const QUEUED = 0;
export const DISPATCHED = 1;
export const DEAD = 2;
/** Priority below LOW, where `timeoutAction: "delay"` parks expired requests. */
export const DELAYED_PRIORITY = 5;

/** One caller's request from `enqueue` until it is dispatched in a batch, cancelled or expired. */
export interface QueuedRequest<P, R> {
  key: number;
  state: number;
  payload: P;
  priority: number;
  signature: string;
  rows: number;
  enqueuedAtMicroseconds: number;
  resolve: (value: R) => void;
  reject: (error: Error) => void;
  cancelDeadline: (() => void) | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Answers each request of a batch with its outcome, or all of them with the batch's failure. */
export function settle<P, R>(batch: readonly QueuedRequest<P, R>[], outcomes: Promise<ItemOutcome<R>[]>): Promise<void> {
  return outcomes
    .then((results) => {
      if (results.length !== batch.length) throw new Error(`batch of ${batch.length} got ${results.length} results (this is a bug)`);
      batch.forEach((request, index) => {
        const outcome = results[index]!;
        if (outcome.ok) request.resolve(outcome.value);
        else request.reject(outcome.error);
      });
    })
    .catch((error: unknown) => {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const request of batch) request.reject(failure);
    });
}

/** The answer of a request cancelled while queued. */
export function cancelledError(model: string): ModelMoraError {
  return new ModelMoraError("CANCELLED", `request to "${model}" was cancelled before it ran`);
}
