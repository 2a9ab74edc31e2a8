/**
 * The `jobs` table and every write to it. Whoever changes a job's state does it through here, with a
 * conditional UPDATE, so concurrent servers (PostgreSQL) and the runner, the sweeper and cancel
 * (one process) cannot overwrite each other:
 *
 * - `claim` moves queued jobs to running with a fresh lease token: on PostgreSQL the candidates are
 *   picked `FOR UPDATE SKIP LOCKED` (servers never claim the same row, nor wait on each other); on
 *   SQLite one process owns the file (EXCLUSIVE locking) and the UPDATE … WHERE id IN (SELECT …)
 *   is one statement, so the single writer needs no row locks.
 * - `complete`, `fail`, `renew` and `release` only touch a row that is still `running` under the
 *   caller's token: once a lease was reclaimed or the job cancelled, the old holder's result is
 *   dropped, so an answer is written at most once.
 * - `recoverExpired` retries running jobs whose lease ran out (backoff), or fails them after
 *   `maxAttempts`.
 * - A job with a callbackUrl gets its callback marked pending in the same UPDATE that ends it
 *   (succeeded or failed), so the delivery (callback-store.ts) survives any crash after that.
 *
 * Times come from this server's clock (`now`), on both dialects alike; replicas' clocks must agree
 * to well within a lease.
 */
import { and, asc, count, desc, eq, inArray, lt, lte, type SQL, sql } from "drizzle-orm";
import { ModelMoraError } from "../../errors.ts";
import type { OpenDatabase } from "../../registry/database.ts";
import type { JobRow } from "../../registry/schema/index.ts";
import type { Priority } from "../priority.ts";
import type { JobError, JobRequest, JobStatus } from "./job-types.ts";
import type { ResultStores } from "./result-store.ts";
import { sweepResults } from "./sweep-results.ts";

export type { JobRow } from "../../registry/schema/index.ts";

export interface NewJob {
  model: string;
  version: string | undefined;
  priority: Priority;
  request: JobRequest;
  callbackUrl?: string;
  /** The id of the API key that submitted it; absent when no keys are configured. */
  ownerKeyId?: string;
}

/** The one answer for a job that does not exist, or that the caller may not see (jobs-service.ts). */
export function jobNotFound(id: string): ModelMoraError {
  return new ModelMoraError("JOB_NOT_FOUND", `job "${id}" does not exist`, { jobId: id });
}

/** A job this server holds: the row as claimed, and the token that proves the lease is ours. */
export interface Claim {
  job: JobRow;
  token: string;
}

export interface JobStoreOptions {
  results: ResultStores;
  maxAttempts: number;
  retryBaseMilliseconds: number;
  inlineResultBytes: number;
  now?: () => number;
}

export interface JobPage {
  jobs: JobRow[];
  /** Offset of the next page; undefined on the last one. */
  nextOffset: number | undefined;
}

export class JobStore {
  private readonly now: () => number;

  constructor(
    private readonly database: OpenDatabase,
    private readonly options: JobStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Writes the queued row; the job exists (and survives a crash) once this resolves. */
  async submit(job: NewJob): Promise<JobRow> {
    const { db, tables } = this.database;
    const now = new Date(this.now());
    const [row] = await db
      .insert(tables.jobs)
      .values({
        id: crypto.randomUUID(),
        modelName: job.model,
        modelVersion: job.version ?? null,
        priority: job.priority,
        status: "queued",
        request: job.request,
        maxAttempts: this.options.maxAttempts,
        runAfter: now,
        callbackUrl: job.callbackUrl ?? null,
        ownerKeyId: job.ownerKeyId ?? null,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    return row!;
  }

  /** The job, or JOB_NOT_FOUND. */
  async get(id: string): Promise<JobRow> {
    const { db, tables } = this.database;
    const [row] = await db.select().from(tables.jobs).where(eq(tables.jobs.id, id)).limit(1);
    if (!row) throw jobNotFound(id);
    return row;
  }

  /** Newest first, filtered by status, model and the key that submitted them. */
  async list(filter: { status?: JobStatus; model?: string; ownerKeyId?: string; limit: number; offset: number }): Promise<JobPage> {
    const { db, tables } = this.database;
    const conditions: SQL[] = [];
    if (filter.status) conditions.push(eq(tables.jobs.status, filter.status));
    if (filter.model) conditions.push(eq(tables.jobs.modelName, filter.model));
    if (filter.ownerKeyId !== undefined) conditions.push(eq(tables.jobs.ownerKeyId, filter.ownerKeyId));
    const rows = await db
      .select()
      .from(tables.jobs)
      .where(and(...conditions))
      .orderBy(desc(tables.jobs.createdAt), asc(tables.jobs.id))
      .limit(filter.limit + 1)
      .offset(filter.offset);
    return { jobs: rows.slice(0, filter.limit), nextOffset: rows.length > filter.limit ? filter.offset + filter.limit : undefined };
  }

  /** Jobs waiting to run (the jobs-queued gauge, and autoscaling on queue depth). */
  async queuedCount(): Promise<number> {
    const { db, tables } = this.database;
    const [row] = await db.select({ queued: count() }).from(tables.jobs).where(eq(tables.jobs.status, "queued"));
    return Number(row?.queued ?? 0);
  }

  /** Cancels a queued or running job (a runner holding it sees the lease gone and stops); a finished one is left as it is. */
  async cancel(id: string): Promise<JobRow> {
    const { db, tables } = this.database;
    const now = new Date(this.now());
    const [row] = await db
      .update(tables.jobs)
      .set({ status: "cancelled", leaseToken: null, leaseExpiresAt: null, finishedAt: now, updatedAt: now })
      .where(and(eq(tables.jobs.id, id), inArray(tables.jobs.status, ["queued", "running"])))
      .returning();
    return row ?? this.get(id);
  }

  /** Takes up to `limit` queued jobs whose time has come, highest priority and oldest first. */
  async claim(owner: string, limit: number, leaseMilliseconds: number): Promise<Claim[]> {
    if (limit <= 0) return [];
    const { db, tables } = this.database;
    const { jobs } = tables;
    const now = new Date(this.now());
    const token = crypto.randomUUID();
    const due = db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.status, "queued"), lte(jobs.runAfter, now)))
      .orderBy(asc(jobs.priority), asc(jobs.createdAt))
      .limit(limit);
    const candidates = this.database.kind === "postgres" ? due.for("update", { skipLocked: true }) : due;
    const rows = await db
      .update(jobs)
      .set({ status: "running", attempts: sql`${jobs.attempts} + 1`, leaseToken: token, leaseOwner: owner, leaseExpiresAt: new Date(now.getTime() + leaseMilliseconds), startedAt: now, updatedAt: now })
      .where(and(inArray(jobs.id, candidates), eq(jobs.status, "queued")))
      .returning();
    return rows.sort((a, b) => a.priority - b.priority || a.createdAt.getTime() - b.createdAt.getTime()).map((job) => ({ job, token }));
  }

  /** Extends the leases still ours; answers the ids of those that are (the rest were cancelled or reclaimed). */
  async renew(claims: Claim[], leaseMilliseconds: number): Promise<Set<string>> {
    const held = new Set<string>();
    const { db, tables } = this.database;
    const now = this.now();
    const byToken = new Map<string, Claim[]>();
    for (const claim of claims) byToken.set(claim.token, [...(byToken.get(claim.token) ?? []), claim]);
    for (const [token, group] of byToken) {
      const rows = await db
        .update(tables.jobs)
        .set({ leaseExpiresAt: new Date(now + leaseMilliseconds), updatedAt: new Date(now) })
        .where(and(this.heldBy(token), inArray(tables.jobs.id, group.map((claim) => claim.job.id))))
        .returning({ id: tables.jobs.id });
      for (const row of rows) held.add(row.id);
    }
    return held;
  }

  /**
   * Records the answer if the lease is still ours; false when it is not (the answer is dropped, and
   * its file, if it had one, deleted).
   */
  async complete(claim: Claim, answer: unknown): Promise<boolean> {
    const { db, tables } = this.database;
    const json = JSON.stringify(answer);
    const bytes = Buffer.byteLength(json);
    const { writer } = this.options.results;
    // Stored whole before the row says succeeded: a reader that sees succeeded finds the whole answer.
    const resultPath = bytes > this.options.inlineResultBytes ? await writer.write(claim.job.id, claim.token, json) : null;
    const now = new Date(this.now());
    const rows = await db
      .update(tables.jobs)
      .set({
        status: "succeeded",
        result: resultPath ? null : answer,
        resultPath,
        resultStore: resultPath ? writer.kind : null,
        resultSizeBytes: bytes,
        error: null,
        leaseToken: null,
        leaseExpiresAt: null,
        finishedAt: now,
        updatedAt: now,
        ...this.callbackDue(now),
      })
      .where(and(eq(tables.jobs.id, claim.job.id), this.heldBy(claim.token)))
      .returning({ id: tables.jobs.id });
    if (rows.length === 0 && resultPath) await writer.remove(resultPath);
    return rows.length === 1;
  }

  /**
   * Ends an attempt that failed: retried after a backoff while attempts remain and the error is
   * `retryable`, else failed for good. "lost" when the lease was no longer ours.
   */
  async fail(claim: Claim, error: JobError, retryable: boolean): Promise<"retrying" | "failed" | "lost"> {
    return this.endAttempt(claim.job.id, claim.token, claim.job.attempts, claim.job.maxAttempts, error, retryable);
  }

  /** Gives a job back without counting the attempt (this server is shutting down). */
  async release(claim: Claim): Promise<void> {
    const { db, tables } = this.database;
    const now = new Date(this.now());
    await db
      .update(tables.jobs)
      .set({ status: "queued", attempts: sql`${tables.jobs.attempts} - 1`, leaseToken: null, leaseOwner: null, leaseExpiresAt: null, runAfter: now, updatedAt: now })
      .where(and(eq(tables.jobs.id, claim.job.id), this.heldBy(claim.token)));
  }

  /**
   * Running jobs whose lease has run out (their server died or stalled): retried after a backoff, or
   * failed once they have had `maxAttempts` runs. `everyRunning` treats every running job as
   * expired: on SQLite a server that opens the file is its only user, so nothing else runs them.
   */
  async recoverExpired(everyRunning = false): Promise<{ retried: string[]; failed: string[] }> {
    const { db, tables } = this.database;
    const { jobs } = tables;
    const now = new Date(this.now());
    const expired = await db
      .select({ id: jobs.id, token: jobs.leaseToken, attempts: jobs.attempts, maxAttempts: jobs.maxAttempts })
      .from(jobs)
      .where(and(eq(jobs.status, "running"), everyRunning ? undefined : lt(jobs.leaseExpiresAt, now)));
    const outcome = { retried: [] as string[], failed: [] as string[] };
    for (const job of expired) {
      const error: JobError = { code: "INFERENCE_FAILED", message: `the server running this job stopped answering (lease expired after attempt ${job.attempts} of ${job.maxAttempts})` };
      const ended = await this.endAttempt(job.id, job.token ?? "", job.attempts, job.maxAttempts, error, true);
      if (ended === "retrying") outcome.retried.push(job.id);
      if (ended === "failed") outcome.failed.push(job.id);
    }
    return outcome;
  }

  /** Expires finished jobs past their TTL and deletes their results (sweep-results.ts); answers how many. */
  sweep(ttlMilliseconds: number): Promise<number> {
    return sweepResults(this.database, this.options.results, new Date(this.now() - ttlMilliseconds), this.now);
  }

  /** The answer of a succeeded job (from the row or the result store it names; rows before 0003 name none: files). */
  async readResult(job: JobRow): Promise<unknown> {
    if (!job.resultPath) return job.result;
    return this.options.results.all[job.resultStore ?? "files"].read(job.resultPath);
  }

  private async endAttempt(id: string, token: string, attempts: number, maxAttempts: number, error: JobError, retryable: boolean): Promise<"retrying" | "failed" | "lost"> {
    const { db, tables } = this.database;
    const now = this.now();
    const retrying = retryable && attempts < maxAttempts;
    const backoffMilliseconds = this.options.retryBaseMilliseconds * 2 ** Math.max(0, attempts - 1);
    const rows = await db
      .update(tables.jobs)
      .set(
        retrying
          ? { status: "queued", error, leaseToken: null, leaseOwner: null, leaseExpiresAt: null, runAfter: new Date(now + backoffMilliseconds), updatedAt: new Date(now) }
          : { status: "failed", error, leaseToken: null, leaseExpiresAt: null, finishedAt: new Date(now), updatedAt: new Date(now), ...this.callbackDue(new Date(now)) },
      )
      .where(and(eq(tables.jobs.id, id), this.heldBy(token)))
      .returning({ id: tables.jobs.id });
    if (rows.length === 0) return "lost";
    return retrying ? "retrying" : "failed";
  }

  /** Columns that make a job's callback due now, when it has a callbackUrl (set where the job ends). */
  private callbackDue(now: Date) {
    const { jobs } = this.database.tables;
    return { callbackState: sql`case when ${jobs.callbackUrl} is not null then 'pending' end`, callbackNextAt: now, callbackAttempts: 0, callbackLastError: null };
  }

  private heldBy(token: string): SQL {
    const { jobs } = this.database.tables;
    return and(eq(jobs.status, "running"), eq(jobs.leaseToken, token))!;
  }
}
