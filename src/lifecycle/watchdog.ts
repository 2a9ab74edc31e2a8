/**
 * The inference watchdog (MODELMORA_WATCHDOG_GRACE_SECONDS): a worker still computing a batch
 * `graceMilliseconds` after the latest deadline of the batch's requests is killed. Its requests
 * were already answered INFERENCE_TIMEOUT at their deadlines (src/inference/service.ts); without the
 * watchdog the worker would go on computing for nobody and hold its replica. The pool's exit watch
 * then drops the replica and the next request starts a replacement; other models' workers are
 * untouched. A batch with a request that has no deadline is never cut off.
 */
import { ModelMoraError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { type Clock, nowMilliseconds } from "../clock.ts";
import type { WorkerHandle } from "./worker-process.ts";

export interface WatchdogSettings {
  graceMilliseconds: number;
  clock: Clock;
  logger: Logger;
}

/**
 * Runs `work` (one batch on `worker`) under the watchdog: when `deadlineAtMilliseconds` + grace
 * passes first, the worker is killed and the batch fails with INFERENCE_TIMEOUT.
 */
export async function underWatchdog<T>(
  work: Promise<T>,
  worker: WorkerHandle,
  deadlineAtMilliseconds: number | undefined,
  model: { name: string; version: string },
  settings: WatchdogSettings | undefined,
): Promise<T> {
  if (settings === undefined || deadlineAtMilliseconds === undefined) return work;
  const { graceMilliseconds, clock, logger } = settings;
  let fired = false;
  const delayMilliseconds = Math.max(0, deadlineAtMilliseconds + graceMilliseconds - nowMilliseconds(clock));
  const cancel = clock.setTimer(() => {
    fired = true;
    logger.warn(
      { event: "watchdog_killed_worker", model: model.name, version: model.version, pid: worker.pid, grace_ms: graceMilliseconds },
      "worker still computing past its requests' deadline plus grace; killed, a replacement starts on the next request",
    );
    void worker.terminate(0);
  }, delayMilliseconds * 1000);
  try {
    return await work;
  } catch (error) {
    if (!fired) throw error;
    throw new ModelMoraError("INFERENCE_TIMEOUT", `inference on "${model.name}" ran past its deadline plus ${graceMilliseconds} ms; the worker was stopped`);
  } finally {
    cancel();
  }
}
