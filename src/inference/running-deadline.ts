/**
 * The deadline of a request that is running. One that is still queued at its deadline is expired
 * by its queue (INFERENCE_TIMEOUT, counted as expired, never run); this timer fires a millisecond
 * later so that the queue always answers first for those.
 */
import { ModelMoraError } from "../errors.ts";
import { timerDelay } from "../scheduler/clock.ts";

const RUNNING_DEADLINE_LAG_MILLISECONDS = 1;

/** `work`, or INFERENCE_TIMEOUT once `deadlineAtMilliseconds` (epoch) has passed. */
export async function withDeadline<T>(work: Promise<T>, deadlineAtMilliseconds: number, model: string): Promise<T> {
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
