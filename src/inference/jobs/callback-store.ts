/**
 * Durable callback deliveries, kept in the job's row (`callback_state`, `callback_attempts`,
 * `callback_next_at`, `callback_last_error`). JobStore marks a callback pending in the UPDATE that
 * ends its job; from then on any replica may deliver it:
 *
 * - `claim` takes due pending callbacks (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so replicas never
 *   take the same one; on SQLite one statement of the file's only writer), counts the attempt and
 *   pushes `callback_next_at` past the delivery's timeout: that is the claim's lease. A server that
 *   dies mid-delivery leaves the callback due again once it passes, for whichever replica looks.
 * - `delivered` and `failed` only touch a row whose attempt count is still the one claimed, so a
 *   delivery that outlived its lease cannot overwrite the outcome of the one that replaced it.
 *
 * Delivery is therefore at least once: a receiver can see the same job twice (a crash after the
 * POST, before `delivered` was written) and deduplicates by job id.
 */
import { and, asc, eq, gte, inArray, lte, sql } from "drizzle-orm";
import type { OpenDatabase } from "../../registry/database.ts";
import type { JobRow } from "./job-store.ts";

/** A callback this server is delivering: the job as claimed, and the attempt number that fences its outcome. */
export interface CallbackClaim {
  job: JobRow;
  attempt: number;
}

export interface CallbackStoreOptions {
  /** Deliveries per callback, the first included; then it is given up. */
  maxAttempts: number;
  retryBaseMilliseconds: number;
  /** Longest wait between two deliveries (the doubling backoff stops growing there). */
  maxDelayMilliseconds: number;
  /** How long a claimed delivery holds before another server may take it (the POST's timeout and a margin). */
  claimMilliseconds: number;
  now?: () => number;
}

export class CallbackStore {
  private readonly now: () => number;

  constructor(
    private readonly database: OpenDatabase,
    private readonly options: CallbackStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Takes up to `limit` due callbacks, oldest due first; a callback whose attempts ran out while in flight is given up instead. */
  async claim(limit: number): Promise<CallbackClaim[]> {
    const { db, tables } = this.database;
    const { jobs } = tables;
    const now = new Date(this.now());
    // A delivery cut short (its server died) already counted its attempt: the last one ends here.
    await db
      .update(jobs)
      .set({ callbackState: "given_up", callbackNextAt: null, callbackLastError: "the last delivery was interrupted (its server stopped)" })
      .where(and(eq(jobs.callbackState, "pending"), lte(jobs.callbackNextAt, now), gte(jobs.callbackAttempts, this.options.maxAttempts)));
    const due = db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.callbackState, "pending"), lte(jobs.callbackNextAt, now)))
      .orderBy(asc(jobs.callbackNextAt))
      .limit(limit);
    const candidates = this.database.kind === "postgres" ? due.for("update", { skipLocked: true }) : due;
    const rows = await db
      .update(jobs)
      .set({ callbackAttempts: sql`${jobs.callbackAttempts} + 1`, callbackNextAt: new Date(now.getTime() + this.options.claimMilliseconds) })
      .where(and(inArray(jobs.id, candidates), eq(jobs.callbackState, "pending"), lte(jobs.callbackNextAt, now)))
      .returning();
    return rows.map((job) => ({ job, attempt: job.callbackAttempts }));
  }

  async delivered(claim: CallbackClaim): Promise<void> {
    const { db, tables } = this.database;
    await db
      .update(tables.jobs)
      .set({ callbackState: "delivered", callbackNextAt: null, callbackLastError: null })
      .where(this.heldBy(claim));
  }

  /** Schedules the next delivery after the backoff, or gives up after the last attempt. */
  async failed(claim: CallbackClaim, reason: string): Promise<"retrying" | "given_up"> {
    const { db, tables } = this.database;
    const { maxAttempts, retryBaseMilliseconds, maxDelayMilliseconds } = this.options;
    if (claim.attempt >= maxAttempts) {
      await db.update(tables.jobs).set({ callbackState: "given_up", callbackNextAt: null, callbackLastError: reason }).where(this.heldBy(claim));
      return "given_up";
    }
    const delayMilliseconds = Math.min(maxDelayMilliseconds, retryBaseMilliseconds * 2 ** (claim.attempt - 1));
    await db
      .update(tables.jobs)
      .set({ callbackNextAt: new Date(this.now() + delayMilliseconds), callbackLastError: reason })
      .where(this.heldBy(claim));
    return "retrying";
  }

  private heldBy(claim: CallbackClaim) {
    const { jobs } = this.database.tables;
    return and(eq(jobs.id, claim.job.id), eq(jobs.callbackState, "pending"), eq(jobs.callbackAttempts, claim.attempt));
  }
}
