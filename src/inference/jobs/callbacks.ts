/**
 * Job callbacks: when a job with a `callbackUrl` reaches a final state, the server POSTs the job (its
 * status view, and the answer when it succeeded) to that URL, signed with an HMAC-SHA256 of the body
 * under MODELMORA_JOB_CALLBACK_SECRET in `x-modelmora-signature: sha256=<hex>`. The URL must be
 * http(s) to a host the source policy allows (MODELMORA_SOURCE_HOSTS, no private addresses unless
 * allowed), checked at submission and again before each delivery; redirects are not followed.
 * Delivery is retried with a doubling backoff; it is best effort (a server that stops while
 * retrying drops the callback; the job itself stays readable at /api/v1/jobs/{id}).
 */
import { createHmac } from "node:crypto";
import { ModelMoraError, invalidInput } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import { type SourcePolicy, checkRemoteSource } from "../../security/source-policy.ts";
import type { JobStore } from "./job-store.ts";
import { toJobView } from "./jobs-service.ts";

export const SIGNATURE_HEADER = "x-modelmora-signature";

export interface CallbackOptions {
  policy: SourcePolicy;
  /** The HMAC key; without it, jobs with a callbackUrl are refused. */
  secret: string | undefined;
  /** Deliveries per callback, the first included. */
  attempts: number;
  retryBaseMilliseconds: number;
  timeoutMilliseconds: number;
  logger: Logger;
}

/** `sha256=<hex>`: what a receiver recomputes over the raw body with the shared secret. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export class Callbacks {
  constructor(
    private readonly store: JobStore,
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

  /** Delivers the job's callback, if it has one; never throws (failures are logged). */
  async deliver(jobId: string): Promise<void> {
    const { logger } = this.options;
    try {
      const job = await this.store.get(jobId);
      if (!job.callbackUrl || !this.options.secret) return;
      const body = JSON.stringify({ ...toJobView(job), ...(job.status === "succeeded" && { result: await this.store.readResult(job) }) });
      for (let attempt = 1; attempt <= this.options.attempts; attempt++) {
        const outcome = await this.post(job.callbackUrl, body);
        if (outcome === "delivered") return void logger.info({ event: "job_callback_delivered", job_id: jobId, attempt }, "job callback delivered");
        logger.warn({ event: "job_callback_failed", job_id: jobId, attempt, reason: outcome }, "job callback failed");
        if (attempt < this.options.attempts) await Bun.sleep(this.options.retryBaseMilliseconds * 2 ** (attempt - 1));
      }
    } catch (error) {
      logger.error({ event: "job_callback_failed", job_id: jobId, error: error instanceof Error ? error.message : String(error) }, "job callback failed");
    }
  }

  private async post(url: string, body: string): Promise<"delivered" | string> {
    try {
      await checkRemoteSource(this.options.policy, new URL(url));
      const response = await fetch(url, {
        method: "POST",
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.options.timeoutMilliseconds),
        headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature(this.options.secret!, body) },
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.ok ? "delivered" : `HTTP ${response.status}`;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
}
