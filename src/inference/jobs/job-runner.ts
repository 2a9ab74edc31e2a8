/**
 * Runs jobs on this server: claims queued rows (up to `concurrency` at once), runs each through the
 * inference service with the job's priority, renews the leases it holds, writes the answer if the
 * lease is still its own, and retries or fails what went wrong. Also the sweeper (results past their
 * TTL) and the recovery of jobs whose server died (expired leases).
 *
 * Only the runner starts job work; the store decides, row by row, whose lease counts.
 */
import { ModelMoraError, type ErrorCode } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import type { JobSettings } from "./job-settings.ts";
import type { Claim, JobRow, JobStore } from "./job-store.ts";
import type { JobError } from "./job-types.ts";

/** Failures the same request would meet again: the job fails at once instead of being retried. */
const PERMANENT_CODES: ReadonlySet<ErrorCode> = new Set([
  "INVALID_INPUT",
  "MODEL_NOT_FOUND",
  "VERSION_NOT_FOUND",
  "PAYLOAD_TOO_LARGE",
  "OUTPUT_TOO_LARGE",
  "MODEL_LOAD_FAILED",
  "UNSUPPORTED_MEDIA_TYPE",
  "FORBIDDEN",
  "INFERENCE_TIMEOUT",
]);

export interface JobRunnerOptions {
  store: JobStore;
  /** Runs one job's request; `signal` aborts when the job is cancelled or the server stops. */
  execute: (job: JobRow, signal: AbortSignal) => Promise<unknown>;
  settings: JobSettings;
  /** This server, as recorded in `lease_owner` (host:pid). */
  owner: string;
  /**
   * SQLite: the server that opened the file is its only user, so jobs left `running` belong to a
   * server that died; they are recovered at start instead of after their lease.
   */
  recoverEveryRunningAtStart: boolean;
  logger: Logger;
  /** Called after a job reached a final state through this runner (callbacks, metrics). */
  onFinished?: (jobId: string) => void;
}

interface RunningJob {
  claim: Claim;
  abort: AbortController;
  done: Promise<void>;
}

export class JobRunner {
  private readonly running = new Map<string, RunningJob>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private claiming = false;
  private again = false;
  private stopping = false;

  constructor(private readonly options: JobRunnerOptions) {}

  async start(): Promise<void> {
    const { store, settings } = this.options;
    await this.recover(this.options.recoverEveryRunningAtStart);
    const every = (milliseconds: number, task: () => Promise<unknown>) => {
      const timer = setInterval(() => void task().catch((error) => this.logFailure("job_maintenance_failed", error)), milliseconds);
      timer.unref();
      this.timers.push(timer);
    };
    every(settings.pollMilliseconds, () => this.claimWork());
    every(Math.max(100, Math.floor(settings.leaseMilliseconds / 3)), () => this.renewAndRecover());
    every(Math.min(60_000, Math.max(1_000, Math.floor(settings.resultTtlMilliseconds / 2))), () => store.sweep(settings.resultTtlMilliseconds));
    this.wake();
  }

  /** Looks for work now (a job was just submitted to this server). */
  wake(): void {
    void this.claimWork().catch((error) => this.logFailure("job_claim_failed", error));
  }

  /** Jobs this server is running now. */
  runningCount(): number {
    return this.running.size;
  }

  /** Stops claiming; jobs already claimed keep running (graceful shutdown lets them finish). */
  stopClaiming(): void {
    this.stopping = true;
  }

  /**
   * Stops everything: jobs still running are aborted and given back to the queue without counting
   * the attempt, so another server (or this one, restarted) runs them.
   */
  async close(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const job of this.running.values()) job.abort.abort();
    await Promise.all([...this.running.values()].map((job) => job.done));
  }

  private async claimWork(): Promise<void> {
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = true;
    try {
      do {
        this.again = false;
        const free = this.options.settings.concurrency - this.running.size;
        if (this.stopping || free <= 0) return;
        const claims = await this.options.store.claim(this.options.owner, free, this.options.settings.leaseMilliseconds);
        for (const claim of claims) this.startJob(claim);
        if (claims.length === free) this.again = true;
      } while (this.again && !this.stopping);
    } finally {
      this.claiming = false;
    }
  }

  private startJob(claim: Claim): void {
    const abort = new AbortController();
    const entry: RunningJob = { claim, abort, done: Promise.resolve() };
    entry.done = this.runJob(claim, abort.signal)
      .catch((error) => this.logFailure("job_bookkeeping_failed", error, claim.job.id))
      .finally(() => {
        this.running.delete(claim.job.id);
        if (!this.stopping) this.wake();
      });
    this.running.set(claim.job.id, entry);
  }

  private async runJob(claim: Claim, signal: AbortSignal): Promise<void> {
    const { store, logger } = this.options;
    const { job } = claim;
    let answer: unknown;
    try {
      answer = await this.options.execute(job, signal);
    } catch (error) {
      if (this.stopping) return void (await store.release(claim));
      if (signal.aborted) return; // cancelled, or the lease went to another server
      const jobError = toJobError(error);
      if (!(error instanceof ModelMoraError)) logger.error({ event: "job_internal_error", job_id: job.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, "job failed with an unexpected error");
      const outcome = await store.fail(claim, jobError, !PERMANENT_CODES.has(jobError.code));
      logger.info({ event: "job_attempt_failed", job_id: job.id, attempt: job.attempts, code: jobError.code, outcome }, "job attempt failed");
      if (outcome === "failed") this.options.onFinished?.(job.id);
      return;
    }
    const written = await store.complete(claim, answer);
    // One line per job that succeeded here: across replicas, a job id appears in exactly one of them.
    if (written) logger.info({ event: "job_succeeded", job_id: job.id, attempt: job.attempts }, "job succeeded");
    else logger.warn({ event: "job_result_dropped", job_id: job.id, attempt: job.attempts }, "job's lease was lost (cancelled or taken over); result dropped");
    if (written) this.options.onFinished?.(job.id);
  }

  private async renewAndRecover(): Promise<void> {
    const { store, settings } = this.options;
    const renewing = [...this.running.values()];
    if (renewing.length > 0) {
      const held = await store.renew(renewing.map((job) => job.claim), settings.leaseMilliseconds);
      // Only the jobs this renewal asked about: one claimed while it ran was not in it, and is ours.
      for (const job of renewing) if (!held.has(job.claim.job.id)) job.abort.abort();
    }
    if (!this.stopping) await this.recover(false);
  }

  /** Retries or fails the jobs whose server died (see JobStore.recoverExpired); failed ones get their callback. */
  private async recover(everyRunning: boolean): Promise<void> {
    const { retried, failed } = await this.options.store.recoverExpired(everyRunning);
    if (retried.length + failed.length > 0) this.options.logger.info({ event: "jobs_recovered", retried: retried.length, failed: failed.length }, "jobs of a stopped server recovered");
    for (const id of failed) this.options.onFinished?.(id);
  }

  private logFailure(event: string, error: unknown, jobId?: string): void {
    this.options.logger.error({ event, job_id: jobId, error: error instanceof Error ? error.message : String(error) }, "job bookkeeping failed");
  }
}

function toJobError(error: unknown): JobError {
  if (error instanceof ModelMoraError) return { code: error.code, message: error.message, ...(error.details && { details: error.details }) };
  return { code: "INTERNAL", message: "internal error" };
}
