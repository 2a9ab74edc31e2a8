/**
 * The one clock: time and timers for the scheduler, the worker pool and the inference service, all
 * in microseconds, injected so that queue and lifecycle policy are tested with a fake clock.
 *
 * `nowMicroseconds` is epoch time that never goes backwards (`performance.timeOrigin +
 * performance.now()`): precise enough for batch delays of a few hundred microseconds, and comparable
 * with the epoch-millisecond deadlines requests carry (`deadlineAtMilliseconds`).
 */
export interface Clock {
  /** Microseconds since the Unix epoch. */
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

/** The process's clock. Timers are unref'd: a queued deadline or an idle model's keep-alive never keeps the process alive. */
export const systemClock: Clock = {
  nowMicroseconds: () => (performance.timeOrigin + performance.now()) * 1000,
  setTimer(callback, delayMicroseconds) {
    const timer = setTimeout(callback, timerDelay(delayMicroseconds / 1000));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** Epoch milliseconds on `clock` (what deadlines and backoff histories are kept in). */
export function nowMilliseconds(clock: Clock): number {
  return clock.nowMicroseconds() / 1000;
}

/** Resolves after `delayMilliseconds` on `clock`. */
export function sleep(clock: Clock, delayMilliseconds: number): Promise<void> {
  return new Promise<void>((resolve) => void clock.setTimer(resolve, delayMilliseconds * 1000));
}
