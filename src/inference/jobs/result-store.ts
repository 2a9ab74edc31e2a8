/**
 * Where large job answers live (those over MODELMORA_JOB_INLINE_RESULT_KB; smaller ones stay in the
 * job's row). One small interface, two implementations:
 *
 * - `files` (./file-result-store.ts): under the data directory of the server that ran the job. The
 *   embedded default; with several replicas only readable from every one on a shared volume.
 * - `database` (./database-result-store.ts): the `job_results` table, readable from every replica
 *   on one PostgreSQL. The default on PostgreSQL.
 *
 * Chosen by MODELMORA_JOB_RESULT_STORE; the row records which store and key hold its answer, so a
 * result written before the setting changed is still read from where it is.
 */
import type { ResultStoreKind } from "./job-types.ts";

export interface ResultStore {
  readonly kind: ResultStoreKind;
  /**
   * Stores one attempt's answer whole (never half: a file is renamed into place, a row is one
   * INSERT) and resolves with the key to record in the job's row. Attempts never share a key.
   */
  write(jobId: string, leaseToken: string, json: string): Promise<string>;
  /** The answer under `key`; INTERNAL when it is not there. */
  read(key: string): Promise<unknown>;
  /** Deletes one answer (an attempt whose lease was lost). */
  remove(key: string): Promise<void>;
  /** Deletes every answer of the job, whichever attempt wrote it (the TTL sweeper). */
  removeJob(jobId: string): Promise<void>;
}

/** The store new answers go to, and every store, to read or delete what a row names. */
export interface ResultStores {
  writer: ResultStore;
  all: Record<ResultStoreKind, ResultStore>;
}
