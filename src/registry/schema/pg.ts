/**
 * The registry's tables for PostgreSQL (and, through drizzle-kit, the SQL in drizzle/pg). The
 * embedded twin is ./sqlite.ts: same tables, columns and TypeScript row types, built with
 * sqlite-core; ./index.ts checks at compile time that the two stay alike.
 */
import { bigint, customType, index, integer, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";
import type { ModelConfig } from "../model-config.ts";
import type { TensorSpec } from "../tensor-spec.ts";
import type { StoredCompanionFile } from "../companion-files.ts";
import type { CallbackState, JobError, JobRequest, JobStatus, ResultStoreKind } from "../../inference/jobs/job-types.ts";

export const models = pgTable("models", {
  name: text("name").primaryKey(),
  task: text("task").notNull(),
  /** Version that requests without an explicit version go to. */
  activeVersion: text("active_version").notNull(),
  config: jsonb("config").$type<Partial<ModelConfig>>().notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const modelVersions = pgTable(
  "model_versions",
  {
    modelName: text("model_name")
      .notNull()
      .references(() => models.name, { onDelete: "cascade" }),
    version: text("version").notNull(),
    /** Where the file came from, as the user gave it. */
    source: text("source").notNull(),
    sha256: text("sha256").notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    /** Path of the verified copy in the content-addressed cache. */
    localPath: text("local_path").notNull(),
    inputs: jsonb("inputs").$type<TensorSpec[]>().notNull(),
    outputs: jsonb("outputs").$type<TensorSpec[]>().notNull(),
    /** Companion files by name (tokenizer.json, …), each cached and verified like the model file. */
    files: jsonb("files").$type<Record<string, StoredCompanionFile>>().notNull().default({}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.modelName, table.version] }), index("model_versions_sha256_idx").on(table.sha256)],
);

/**
 * Asynchronous jobs (src/inference/jobs/): a row is written before the client hears 202, claimed by
 * one server at a time under a lease (`lease_token`, `lease_expires_at`), and finished once.
 */
/**
 * JSON kept as text rather than jsonb, for the jobs' requests and results: they are written once and
 * read whole, and a tensor of a few hundred kB costs ~30 ms to turn into jsonb (every number becomes
 * a numeric) and compress, against ~4 ms as text stored EXTERNAL (uncompressed, set in migration 0002;
 * float digits barely compress). Measured with postgres.js on PostgreSQL 15, a 530 kB request.
 */
function jsonText<T>(name: string) {
  return customType<{ data: T; driverData: string }>({
    dataType: () => "text",
    toDriver: (value) => JSON.stringify(value),
    fromDriver: (value) => JSON.parse(value) as T,
  })(name);
}

export const jobs = pgTable(
  "jobs",
  {
    id: text("id").primaryKey(),
    modelName: text("model_name").notNull(),
    /** The version asked for; the model's active version when null. */
    modelVersion: text("model_version"),
    /** 1 (highest) … 4, carried into the scheduler. */
    priority: integer("priority").notNull(),
    /** queued | running | succeeded | failed | cancelled | expired */
    status: text("status").$type<JobStatus>().notNull(),
    /** The request as the client sent it (see src/inference/jobs/job-request.ts), JSON text stored uncompressed. */
    request: jsonText<JobRequest>("request").notNull(),
    attempts: integer("attempts").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull(),
    /** A queued job is not claimed before this (retry backoff). */
    runAfter: timestamp("run_after", { withTimezone: true }).notNull(),
    /** The claim's token; a result is written only by the holder of the current token. */
    leaseToken: text("lease_token"),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: timestamp("lease_expires_at", { withTimezone: true }),
    /** A small answer, inline; a large one is in the result store named by `result_store`, under the key `result_path`. */
    result: jsonText<unknown>("result"),
    /** `files`: a path relative to the data directory; `database`: the key of a `job_results` row. */
    resultPath: text("result_path"),
    /** Where a large answer is: `files` or `database` (src/inference/jobs/result-store.ts); null when inline. */
    resultStore: text("result_store").$type<ResultStoreKind>(),
    resultSizeBytes: bigint("result_size_bytes", { mode: "number" }),
    error: jsonb("error").$type<JobError>(),
    callbackUrl: text("callback_url"),
    /** The callback's delivery (src/inference/jobs/callback-dispatcher.ts): pending | delivered | given_up; null without a callback or before the job ends. */
    callbackState: text("callback_state").$type<CallbackState>(),
    /** Deliveries started (a claim counts one, so a delivery cut short by a crash counts too). */
    callbackAttempts: integer("callback_attempts").notNull().default(0),
    /** A pending callback is not delivered before this (backoff, or the claim of a delivery in flight). */
    callbackNextAt: timestamp("callback_next_at", { withTimezone: true }),
    callbackLastError: text("callback_last_error"),
    /** The id of the API key that submitted the job (src/security/api-keys.ts); null when no keys were configured. */
    ownerKeyId: text("owner_key_id"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (table) => [
    index("jobs_status_run_after_idx").on(table.status, table.runAfter),
    index("jobs_model_name_idx").on(table.modelName),
    index("jobs_owner_key_id_idx").on(table.ownerKeyId),
    index("jobs_callback_due_idx").on(table.callbackState, table.callbackNextAt),
  ],
);

/** Raw bytes: Buffer in and out (postgres.js sends and answers bytea as Buffer). */
const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => "bytea" });

/**
 * Large job answers when MODELMORA_JOB_RESULT_STORE=database: the answer's JSON as one bytea, one row
 * per attempt that computed it (`key` = `<jobId>-<leaseToken>`), written in one INSERT before the job
 * is marked succeeded, so every replica reads it and none ever reads half of it. Stored EXTERNAL
 * (uncompressed, migration 0003), like the inline results.
 */
export const jobResults = pgTable(
  "job_results",
  {
    key: text("key").primaryKey(),
    jobId: text("job_id").notNull(),
    data: bytea("data").notNull(),
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
  },
  (table) => [index("job_results_job_id_idx").on(table.jobId)],
);
