/** Time and timers for the scheduler, injectable so queue policy is tested with a fake clock. */
export interface SchedulerClock {
  nowMicroseconds(): number;
  /** Calls `callback` after `delayMicroseconds`; the returned function cancels it. */
  setTimer(callback: () => void, delayMicroseconds: number): () => void;
}

export const systemClock: SchedulerClock = {
  nowMicroseconds: () => performance.now() * 1000,
  setTimer(callback, delayMicroseconds) {
    const timer = setTimeout(callback, Math.max(0, delayMicroseconds / 1000));
    return () => clearTimeout(timer);
  },
};
