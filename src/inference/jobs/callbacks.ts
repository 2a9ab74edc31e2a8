/**
 * Job callbacks: when a job with a `callbackUrl` succeeds or fails, the server POSTs the job (its
 * status view, and the answer when it succeeded) to that URL, signed with an HMAC-SHA256 of the body
 * under MODELMORA_JOB_CALLBACK_SECRET in `x-modelmora-signature: sha256=<hex>`; the job id is in the
 * body (`jobId`, signed) and in `x-modelmora-job-id`. The URL must be http(s) to a host the source
 * policy allows (MODELMORA_SOURCE_HOSTS, no private addresses unless allowed), checked at submission
 * and again before each delivery; redirects are not followed.
 *
 * Deliveries are durable (callback-store.ts): the state lives in the job's row, every replica looks
 * for due callbacks (woken at once when one of its own jobs ends, else every poll interval), and a
 * failed delivery is retried with a doubling, capped backoff up to MODELMORA_JOB_CALLBACK_ATTEMPTS,
 * across restarts, then given up (GET /api/v1/jobs/{id} shows `callback.state`). At least once: a
 * receiver deduplicates by job id.
 */
import { createHmac } from "node:crypto";
import { ModelMoraError, invalidInput } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import { type SourcePolicy, checkRemoteSource } from "../../security/source-policy.ts";
import type { CallbackClaim, CallbackStore } from "./callback-store.ts";
import type { JobStore } from "./job-store.ts";
import { toJobView } from "./jobs-service.ts";

export const SIGNATURE_HEADER = "x-modelmora-signature";
export const JOB_ID_HEADER = "x-modelmora-job-id";

/** Callbacks one server delivers at once. */
const DELIVERIES_AT_ONCE = 8;

export interface CallbackOptions {
  policy: SourcePolicy;
  /** The HMAC key; without it, jobs with a callbackUrl are refused. */
  secret: string | undefined;
  timeoutMilliseconds: number;
  /** How often this server looks for due callbacks (retries, and those of other replicas' jobs). */
  pollMilliseconds: number;
  logger: Logger;
}

/** `sha256=<hex>`: what a receiver recomputes over the raw body with the shared secret. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export class Callbacks {
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private looking = false;
  private again = false;

  constructor(
    private readonly jobs: JobStore,
    private readonly deliveries: CallbackStore,
    private readonly options: CallbackOptions,
  ) {}

  /** INVALID_INPUT for a URL that is not http(s) or when no secret is set; FORBIDDEN when the policy refuses its host. */
  async check(raw: string): Promise<void> {
    if (!this.options.secret) throw invalidInput("callbackUrl: this server has no MODELMORA_JOB_CALLBACK_SECRET to sign callbacks with", { field: "callbackUrl" });
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalidInput("callbackUrl: not a URL", { field: "callbackUrl" });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw invalidInput("callbackUrl: must be http or https", { field: "callbackUrl" });
    try {
      await checkRemoteSource(this.options.policy, url);
    } catch (error) {
      if (error instanceof ModelMoraError && error.code === "FORBIDDEN") throw new ModelMoraError("FORBIDDEN", "callbackUrl not allowed by policy", { field: "callbackUrl" });
      throw error;
    }
  }

  /** Starts looking for due callbacks every poll interval (a server without a secret has none to deliver). */
  start(): void {
    if (!this.options.secret) return;
    this.timer = setInterval(() => this.wake(), this.options.pollMilliseconds);
    this.timer.unref();
    this.wake();
  }

  /** Looks for due callbacks now (a job of this server just ended). */
  wake(): void {
    if (!this.options.secret || this.abort.signal.aborted) return;
    void this.deliverDue().catch((error) => this.options.logger.error({ event: "job_callback_claim_failed", error: error instanceof Error ? error.message : String(error) }, "looking for due job callbacks failed"));
  }

  /** Stops looking; deliveries in flight are cut and, their claim lapsing, delivered again by a server that runs. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.abort.abort();
    await Promise.all(this.inFlight);
  }

  private async deliverDue(): Promise<void> {
    if (this.looking) return void (this.again = true);
    this.looking = true;
    try {
      do {
        this.again = false;
        const free = DELIVERIES_AT_ONCE - this.inFlight.size;
        if (free <= 0 || this.abort.signal.aborted) return;
        const claims = await this.deliveries.claim(free);
        for (const claim of claims) {
          const delivery: Promise<void> = this.deliver(claim).finally(() => {
            this.inFlight.delete(delivery);
            this.wake();
          });
          this.inFlight.add(delivery);
        }
        if (claims.length === free) this.again = true;
      } while (this.again);
    } finally {
      this.looking = false;
    }
  }

  private async deliver(claim: CallbackClaim): Promise<void> {
    const { logger } = this.options;
    const { job, attempt } = claim;
    try {
      const { callback: _, ...view } = toJobView(job);
      const body = JSON.stringify({ ...view, ...(job.status === "succeeded" && { result: await this.jobs.readResult(job) }) });
      const outcome = await this.post(job.id, job.callbackUrl!, body);
      if (this.abort.signal.aborted) return;
      if (outcome === "delivered") {
        await this.deliveries.delivered(claim);
        return void logger.info({ event: "job_callback_delivered", job_id: job.id, attempt }, "job callback delivered");
      }
      const next = await this.deliveries.failed(claim, outcome);
      logger.warn({ event: next === "given_up" ? "job_callback_given_up" : "job_callback_failed", job_id: job.id, attempt, reason: outcome }, "job callback failed");
    } catch (error) {
      // The body could not be built (a result file on another replica's volume …): counts as a failed attempt.
      const reason = error instanceof Error ? error.message : String(error);
      logger.error({ event: "job_callback_failed", job_id: job.id, attempt, error: reason }, "job callback failed");
      await this.deliveries.failed(claim, reason).catch(() => undefined);
    }
  }

  private async post(jobId: string, url: string, body: string): Promise<"delivered" | string> {
    try {
      await checkRemoteSource(this.options.policy, new URL(url));
      const response = await fetch(url, {
        method: "POST",
        body,
        redirect: "manual",
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMilliseconds)]),
        headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature(this.options.secret!, body), [JOB_ID_HEADER]: jobId },
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.ok ? "delivered" : `HTTP ${response.status}`;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
}
