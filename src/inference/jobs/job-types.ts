/**
 * What an asynchronous job is: its states, the request it carries (stored as JSON in the `jobs`
 * row) and the error it ended with. The store (job-store.ts) owns the rows; the runner
 * (job-runner.ts) moves them from queued to a final state.
 */
import type { ErrorCode } from "../../errors.ts";
import type { JsonTensor } from "../tensor-codec.ts";

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "expired"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** States a job never leaves (except to `expired`, when the sweeper drops its result). */
export const FINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled", "expired"];

/** Where a large answer is kept (result-store.ts): files under the data directory, or the `job_results` table. */
export const RESULT_STORE_KINDS = ["files", "database"] as const;
export type ResultStoreKind = (typeof RESULT_STORE_KINDS)[number];

/**
 * A callback's delivery (callback-dispatcher.ts): `pending` until a receiver answers 2xx
 * (`delivered`) or the attempts run out (`given_up`).
 */
export type CallbackState = "pending" | "delivered" | "given_up";

/** Limits a request carries into the scheduler when its job runs. */
interface JobLimits {
  timeoutMicroseconds?: number;
  keepAliveSeconds?: number;
}

/** The body of the sync route, kept as sent: KServe JSON tensors, or texts for a txt2embed model. */
export type JobRequest =
  | ({ kind: "tensor"; id?: string; inputs: JsonTensor[]; outputs?: { name: string }[] } & JobLimits)
  | ({ kind: "embed"; texts: string[]; field: string; normalize?: boolean; truncate?: boolean; dimensions?: number } & JobLimits);

/** How a job failed, as the client would have seen it on the sync route. */
export interface JobError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}
