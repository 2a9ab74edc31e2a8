/**
 * Tuning knobs of asynchronous jobs, from the environment (`MODELMORA_JOB_*`). Each trades
 * something off; the defaults suit one server or a few replicas on one PostgreSQL.
 */
import { ConfigError } from "../../config.ts";
import { RESULT_STORE_KINDS, type ResultStoreKind } from "./job-types.ts";

export interface JobSettings {
  /** Runs of a job (first try included) before it fails; a lease that expires counts as a run. */
  maxAttempts: number;
  /**
   * How long a claim holds without renewal (renewed every third of it). Shorter: a dead replica's
   * jobs are retried sooner; longer: fewer renewal writes and more tolerance of clock skew between
   * replicas (lease times are taken from each server's clock).
   */
  leaseMilliseconds: number;
  /** Jobs one server runs at once (they then queue in the scheduler by priority, batched as usual). */
  concurrency: number;
  /** First retry delay; doubled at each further attempt. */
  retryBaseMilliseconds: number;
  /** How often an idle runner looks for work (a job submitted to this server wakes it at once). */
  pollMilliseconds: number;
  /** Answers up to this many bytes of JSON stay in the row; larger ones go to `<dataDir>/job-results`. */
  inlineResultBytes: number;
  /** How long a finished job keeps its result; then the sweeper deletes it and marks the job expired. */
  resultTtlMilliseconds: number;
  /** Deliveries of a job's callback, the first included (retried with the retry backoff), then given up. */
  callbackAttempts: number;
  /** Longest wait between two deliveries of a callback: caps the doubling backoff. */
  callbackMaxDelayMilliseconds: number;
  /**
   * Where answers over the inline limit go: `database` (readable from every replica; the default on
   * PostgreSQL) or `files` under the data directory (the default on the embedded database; on
   * several replicas only with a shared volume). Undefined = the database's default.
   */
  resultStore: ResultStoreKind | undefined;
}

export const JOB_DEFAULTS: JobSettings = {
  maxAttempts: 3,
  leaseMilliseconds: 30_000,
  concurrency: 8,
  retryBaseMilliseconds: 1_000,
  pollMilliseconds: 500,
  inlineResultBytes: 64 * 1024,
  resultTtlMilliseconds: 24 * 3600 * 1000,
  callbackAttempts: 5,
  callbackMaxDelayMilliseconds: 300_000,
  resultStore: undefined,
};

/**
 * @example jobSettingsFromEnvironment({ MODELMORA_JOB_RESULT_TTL_SECONDS: "3600" }).resultTtlMilliseconds // 3_600_000
 */
export function jobSettingsFromEnvironment(environment: Record<string, string | undefined>): JobSettings {
  const read = (name: string, raw: string | undefined, fallback: number, scale: number, minimum: number): number => {
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < minimum) throw new ConfigError(`${name} must be a number ≥ ${minimum}, got ${JSON.stringify(raw)}`);
    return Math.round(value * scale);
  };
  return {
    maxAttempts: read("MODELMORA_JOB_MAX_ATTEMPTS", environment.MODELMORA_JOB_MAX_ATTEMPTS, JOB_DEFAULTS.maxAttempts, 1, 1),
    leaseMilliseconds: read("MODELMORA_JOB_LEASE_SECONDS", environment.MODELMORA_JOB_LEASE_SECONDS, JOB_DEFAULTS.leaseMilliseconds, 1000, 0.3),
    concurrency: read("MODELMORA_JOB_CONCURRENCY", environment.MODELMORA_JOB_CONCURRENCY, JOB_DEFAULTS.concurrency, 1, 1),
    retryBaseMilliseconds: read("MODELMORA_JOB_RETRY_BASE_SECONDS", environment.MODELMORA_JOB_RETRY_BASE_SECONDS, JOB_DEFAULTS.retryBaseMilliseconds, 1000, 0),
    pollMilliseconds: read("MODELMORA_JOB_POLL_MILLISECONDS", environment.MODELMORA_JOB_POLL_MILLISECONDS, JOB_DEFAULTS.pollMilliseconds, 1, 10),
    inlineResultBytes: read("MODELMORA_JOB_INLINE_RESULT_KB", environment.MODELMORA_JOB_INLINE_RESULT_KB, JOB_DEFAULTS.inlineResultBytes, 1024, 0),
    callbackAttempts: read("MODELMORA_JOB_CALLBACK_ATTEMPTS", environment.MODELMORA_JOB_CALLBACK_ATTEMPTS, JOB_DEFAULTS.callbackAttempts, 1, 1),
    resultTtlMilliseconds: read("MODELMORA_JOB_RESULT_TTL_SECONDS", environment.MODELMORA_JOB_RESULT_TTL_SECONDS, JOB_DEFAULTS.resultTtlMilliseconds, 1000, 1),
    callbackMaxDelayMilliseconds: read("MODELMORA_JOB_CALLBACK_MAX_DELAY_SECONDS", environment.MODELMORA_JOB_CALLBACK_MAX_DELAY_SECONDS, JOB_DEFAULTS.callbackMaxDelayMilliseconds, 1000, 0),
    resultStore: resultStoreKind(environment.MODELMORA_JOB_RESULT_STORE),
  };
}

function resultStoreKind(raw: string | undefined): ResultStoreKind | undefined {
  if (raw === undefined || raw === "") return undefined;
  const kind = RESULT_STORE_KINDS.find((candidate) => candidate === raw);
  if (!kind) throw new ConfigError(`MODELMORA_JOB_RESULT_STORE must be one of ${RESULT_STORE_KINDS.join(", ")}, got ${JSON.stringify(raw)}`);
  return kind;
}
