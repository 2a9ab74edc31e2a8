/**
 * What every front end (REST, gRPC, CLI through REST) does with asynchronous jobs: submit, look up,
 * read the result, cancel, list. The row is written before `submit` resolves, so a job a client was
 * told about survives a crash; runners are woken to take it at once.
 *
 * A job belongs to the API key that submitted it: a caller with the infer scope sees, reads, cancels
 * and lists only its own jobs (another key's job is JOB_NOT_FOUND, as if it did not exist); the admin
 * scope sees every job. With no keys configured everyone is the anonymous admin.
 */
import { ModelMoraError } from "../../errors.ts";
import { ANONYMOUS_ADMIN, type Principal } from "../../security/api-keys.ts";
import type { ModelsService } from "../models-service.ts";
import type { Priority } from "../priority.ts";
import { type JobPage, type JobRow, type JobStore, jobNotFound } from "./job-store.ts";
import type { CallbackState, JobError, JobRequest, JobStatus } from "./job-types.ts";

/** A job as clients see it (no request body, no result: those have their own calls). */
export interface JobView {
  jobId: string;
  status: JobStatus;
  model: string;
  /** The version asked for; null = the model's active version when it ran. */
  version: string | null;
  priority: number;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The last attempt's error (also set on a queued job waiting to be retried). */
  error: JobError | null;
  resultSizeBytes: number | null;
  /** The callback's delivery, for a job submitted with a callbackUrl (null otherwise). */
  callback: CallbackView | null;
}

/** Where a job's callback stands: `state` is null until the job ends, then pending → delivered | given_up. */
export interface CallbackView {
  state: CallbackState | null;
  attempts: number;
  /** When the next delivery is due (pending only). */
  nextAttemptAt: string | null;
  /** Why the last delivery failed (`HTTP 503`, a network error …). */
  lastError: string | null;
}

export interface SubmitJob {
  model: string;
  version: string | undefined;
  priority: Priority;
  request: JobRequest;
  callbackUrl?: string;
}

/** Largest page `list` answers. */
export const MAX_JOB_PAGE = 500;

export class JobsService {
  constructor(
    private readonly store: JobStore,
    /** Wakes runners (this server's, and on PostgreSQL the other replicas' through NOTIFY). */
    private readonly onSubmitted: () => void,
    private readonly models: ModelsService,
    /** Checks a callback URL against the source policy's host rules (callbacks.ts); absent = callbacks refused. */
    private readonly checkCallbackUrl?: (url: string) => Promise<void>,
  ) {}

  /** Queues the request; MODEL_NOT_FOUND at once for an unknown model. */
  async submit(job: SubmitJob, caller: Principal): Promise<JobView> {
    await this.models.get(job.model);
    if (job.callbackUrl !== undefined) {
      if (!this.checkCallbackUrl) throw new ModelMoraError("INVALID_INPUT", "callbackUrl is not supported by this server", { field: "callbackUrl" });
      await this.checkCallbackUrl(job.callbackUrl);
    }
    const row = await this.store.submit({ ...job, ownerKeyId: caller === ANONYMOUS_ADMIN ? undefined : caller.keyId });
    this.onSubmitted();
    return toJobView(row);
  }

  async get(id: string, caller: Principal): Promise<JobView> {
    return toJobView(await this.visible(id, caller));
  }

  /** The sync route's answer; JOB_NOT_READY while queued or running, the job's own error once it failed. */
  async result(id: string, caller: Principal): Promise<unknown> {
    return (await this.typedResult(id, caller)).answer;
  }

  /** The answer with the kind of request that produced it (a front end with typed messages picks one by it). */
  async typedResult(id: string, caller: Principal): Promise<{ kind: JobRequest["kind"]; answer: unknown }> {
    const job = await this.visible(id, caller);
    switch (job.status) {
      case "succeeded":
        return { kind: job.request.kind, answer: await this.store.readResult(job) };
      case "queued":
      case "running":
        throw new ModelMoraError("JOB_NOT_READY", `job "${id}" is ${job.status}`, { jobId: id, status: job.status });
      case "failed": {
        const error = job.error ?? { code: "INTERNAL" as const, message: "the job failed" };
        throw new ModelMoraError(error.code, error.message, { ...error.details, jobId: id });
      }
      case "cancelled":
        throw new ModelMoraError("JOB_CANCELLED", `job "${id}" was cancelled`, { jobId: id });
      case "expired":
        throw new ModelMoraError("JOB_EXPIRED", `the result of job "${id}" has expired`, { jobId: id });
    }
  }

  async cancel(id: string, caller: Principal): Promise<JobView> {
    await this.visible(id, caller);
    return toJobView(await this.store.cancel(id));
  }

  /** Newest first: every job for an admin, the caller's own for the infer scope. */
  async list(filter: { status?: JobStatus; model?: string; limit?: number; offset?: number }, caller: Principal): Promise<{ jobs: JobView[]; nextOffset: number | undefined }> {
    const limit = Math.min(filter.limit ?? 100, MAX_JOB_PAGE);
    const ownerKeyId = caller.scope === "admin" ? undefined : caller.keyId;
    const page: JobPage = await this.store.list({ status: filter.status, model: filter.model, ownerKeyId, limit, offset: filter.offset ?? 0 });
    return { jobs: page.jobs.map(toJobView), nextOffset: page.nextOffset };
  }

  /** The job if the caller may see it; JOB_NOT_FOUND alike for a missing job and another key's. */
  private async visible(id: string, caller: Principal): Promise<JobRow> {
    const job = await this.store.get(id);
    if (caller.scope !== "admin" && job.ownerKeyId !== caller.keyId) throw jobNotFound(id);
    return job;
  }

  queuedCount(): Promise<number> {
    return this.store.queuedCount();
  }
}

export function toJobView(row: JobRow): JobView {
  const iso = (date: Date | null) => (date ? date.toISOString() : null);
  return {
    jobId: row.id,
    status: row.status,
    model: row.modelName,
    version: row.modelVersion,
    priority: row.priority,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    error: row.error,
    resultSizeBytes: row.resultSizeBytes,
    callback: row.callbackUrl === null ? null : { state: row.callbackState, attempts: row.callbackAttempts, nextAttemptAt: iso(row.callbackNextAt), lastError: row.callbackLastError },
  };
}
