/** Time and timers for the pool, injectable so lifecycle policy is tested with a fake clock. */
export interface PoolClock {
  now(): Date;
  /** Runs `callback` after `delayMilliseconds`; returns a cancel function. */
  setTimer(callback: () => void, delayMilliseconds: number): () => void;
}

/** Wall-clock time; timers are unref'd so an idle model's timer never keeps the process alive. */
export const systemPoolClock: PoolClock = {
  now: () => new Date(),
  setTimer(callback, delayMilliseconds) {
    const timer = setTimeout(callback, delayMilliseconds);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export function sleep(clock: PoolClock, milliseconds: number): Promise<void> {
  return new Promise<void>((resolve) => void clock.setTimer(resolve, milliseconds));
}
