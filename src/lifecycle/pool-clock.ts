/** Time and timers for the pool, injectable so lifecycle policy is tested with a fake clock. */
import { timerDelay } from "../scheduler/clock.ts";

export interface PoolClock {
  now(): Date;
  /** Runs `callback` after `delayMilliseconds`; returns a cancel function. */
  setTimer(callback: () => void, delayMilliseconds: number): () => void;
}

/**
 * Wall-clock time; timers are unref'd so an idle model's timer never keeps the process alive, and
 * clamped to setTimeout's range (a longer delay would fire at once: a watchdog armed for a request
 * with a 50-day timeout would kill its worker immediately).
 */
export const systemPoolClock: PoolClock = {
  now: () => new Date(),
  setTimer(callback, delayMilliseconds) {
    const timer = setTimeout(callback, timerDelay(delayMilliseconds));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export function sleep(clock: PoolClock, milliseconds: number): Promise<void> {
  return new Promise<void>((resolve) => void clock.setTimer(resolve, milliseconds));
}
