/**
 * The deadline of a request that is running. One that is still queued at its deadline is expired
 * by its queue (INFERENCE_TIMEOUT, counted as expired, never run); this timer fires a millisecond
 * later so that the queue always answers first for those.
 */
import { type Clock, nowMilliseconds } from "../clock.ts";
import { ModelMoraError } from "../errors.ts";

const RUNNING_DEADLINE_LAG_MILLISECONDS = 1;

/** `work`, or INFERENCE_TIMEOUT once `deadlineAtMilliseconds` (epoch, on `clock`) has passed. */
export async function withDeadline<T>(work: Promise<T>, deadlineAtMilliseconds: number, model: string, clock: Clock): Promise<T> {
  let cancel: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    cancel = clock.setTimer(
      () => reject(new ModelMoraError("INFERENCE_TIMEOUT", `inference on "${model}" did not finish within its deadline`)),
      (deadlineAtMilliseconds + RUNNING_DEADLINE_LAG_MILLISECONDS - nowMilliseconds(clock)) * 1000,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    cancel?.();
  }
}
