/**
 * Waiting for a condition in tests that run real processes or real timers: one poll loop, with its
 * bounds stated at each call site. Unit tests with fakes do not need it (they step a fake clock or
 * let promise reactions run); this is for state that another process or a real timer changes.
 */

export interface WaitOptions {
  /** How long to keep polling before failing the test. */
  timeoutMilliseconds: number;
  /** Pause between two checks. */
  intervalMilliseconds: number;
}

/**
 * Polls `condition` (sync or async) until it returns something other than `false` or `undefined`,
 * and resolves with that value; fails after `timeoutMilliseconds` naming `what` (a function is
 * evaluated at the failure, so it can show the state then). An exception from `condition` fails at once.
 *
 * @example
 * await waitFor(() => !processAlive(pid), `process ${pid} to exit`, { timeoutMilliseconds: 10_000, intervalMilliseconds: 5 });
 * const worker = await waitFor(() => workers().find((each) => each.state === "ready"), "a ready worker", POLL);
 */
export async function waitFor<T>(
  condition: () => T | false | undefined | Promise<T | false | undefined>,
  what: string | (() => string),
  { timeoutMilliseconds, intervalMilliseconds }: WaitOptions,
): Promise<T> {
  const deadline = performance.now() + timeoutMilliseconds;
  for (;;) {
    const value = await condition();
    if (value !== false && value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMilliseconds} ms waiting for ${typeof what === "string" ? what : what()}`);
    await Bun.sleep(intervalMilliseconds);
  }
}
