/**
 * Keep-alive: once a model has no work in flight, it is unloaded `keepAliveSeconds` after its last
 * use (0 = as soon as idle, -1 = never). At most one timer per model, armed when it goes idle;
 * requests do not touch it (no timer churn on the hot path): when it fires it unloads, waits for
 * work in flight to finish, or re-arms for the rest of the keep-alive counted from `lastUsedAt`.
 * Expiry goes through the one `expire` path the pool gives (its `stop`).
 */
import type { Logger } from "../observability/logger.ts";
import { hasWorkInFlight, keepAliveSecondsOf, type ModelRef, type ModelRefs } from "./model-ref.ts";
import { type Clock, nowMilliseconds } from "../clock.ts";

export class KeepAlive {
  constructor(
    private readonly refs: ModelRefs,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly expire: (ref: ModelRef) => Promise<void>,
  ) {}

  /** A request's keep-alive wish replaces the model's from now on; the running timer is dropped and re-armed when idle. */
  override(ref: ModelRef, keepAliveSeconds: number | undefined): void {
    if (keepAliveSeconds === undefined || keepAliveSeconds === ref.keepAliveOverrideSeconds) return;
    ref.keepAliveOverrideSeconds = keepAliveSeconds;
    this.cancel(ref);
  }

  /** Arms the idle timer of a ready model with nothing in flight (no-op when one is armed or keep-alive is -1). */
  arm(ref: ModelRef, delayMilliseconds = keepAliveSecondsOf(ref) * 1000): void {
    if (ref.state !== "ready" || keepAliveSecondsOf(ref) < 0 || ref.cancelIdleTimer) return;
    if (hasWorkInFlight(ref)) return;
    ref.cancelIdleTimer = this.clock.setTimer(() => {
      ref.cancelIdleTimer = undefined;
      if (!this.refs.isCurrent(ref) || hasWorkInFlight(ref)) return;
      const now = new Date(nowMilliseconds(this.clock));
      const idleMilliseconds = now.getTime() - (ref.history.lastUsedAt ?? ref.loadedAt ?? now).getTime();
      const remainingMilliseconds = keepAliveSecondsOf(ref) * 1000 - idleMilliseconds;
      if (remainingMilliseconds > 0) {
        this.arm(ref, remainingMilliseconds);
        return;
      }
      this.logger.info({ event: "keep_alive_expired", model: ref.target.name, version: ref.target.version }, "idle model unloaded");
      void this.expire(ref);
    }, delayMilliseconds * 1000);
  }

  cancel(ref: ModelRef): void {
    ref.cancelIdleTimer?.();
    ref.cancelIdleTimer = undefined;
  }
}
