/** Time and timers for the scheduler, injectable so queue policy is tested with a fake clock. */
export interface SchedulerClock {
  nowMicroseconds(): number;
  /** Calls `callback` after `delayMicroseconds`; the returned function cancels it. */
  setTimer(callback: () => void, delayMicroseconds: number): () => void;
}

/**
 * The longest delay a JavaScript timer takes (about 24.8 days); a longer one fires at once, so every
 * timer is clamped to it (a deadline that far away is, in practice, none).
 */
export const MAX_TIMER_MILLISECONDS = 2 ** 31 - 1;

/** A delay as `setTimeout` takes it: not negative, not beyond MAX_TIMER_MILLISECONDS. */
export function timerDelay(milliseconds: number): number {
  return Math.min(Math.max(0, milliseconds), MAX_TIMER_MILLISECONDS);
}

export const systemClock: SchedulerClock = {
  nowMicroseconds: () => performance.now() * 1000,
  setTimer(callback, delayMicroseconds) {
    const timer = setTimeout(callback, timerDelay(delayMicroseconds / 1000));
    return () => clearTimeout(timer);
  },
};
