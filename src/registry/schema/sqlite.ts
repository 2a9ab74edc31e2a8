/**
 * The registry's tables for the embedded database (bun:sqlite), and through drizzle-kit the SQL in
 * drizzle/sqlite. Column for column the twin of ./pg.ts: JSON in text columns, times as integer
 * milliseconds (Date in TypeScript, as on PostgreSQL), the same names, keys and index.
 */
import { sql } from "drizzle-orm";
import { blob, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { ModelConfig } from "../model-config.ts";
import type { TensorSpec } from "../tensor-spec.ts";
import type { StoredCompanionFile } from "../companion-files.ts";
import type { CallbackState, JobError, JobRequest, JobStatus, ResultStoreKind } from "../../inference/jobs/job-types.ts";

/** now() in milliseconds, as SQL: the default of the time columns. */
const NOW_MILLISECONDS = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

export const models = sqliteTable("models", {
  name: text("name").primaryKey(),
  task: text("task").notNull(),
  /** Version that requests without an explicit version go to. */
  activeVersion: text("active_version").notNull(),
  config: text("config", { mode: "json" }).$type<Partial<ModelConfig>>().notNull(),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull().default(NOW_MILLISECONDS),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull().default(NOW_MILLISECONDS),
});

export const modelVersions = sqliteTable(
  "model_versions",
  {
    modelName: text("model_name")
      .notNull()
      .references(() => models.name, { onDelete: "cascade" }),
    version: text("version").notNull(),
    /** Where the file came from, as the user gave it. */
    source: text("source").notNull(),
    sha256: text("sha256").notNull(),
    sizeBytes: integer("size_bytes", { mode: "number" }).notNull(),
    /** Path of the verified copy in the content-addressed cache. */
    localPath: text("local_path").notNull(),
    inputs: text("inputs", { mode: "json" }).$type<TensorSpec[]>().notNull(),
    outputs: text("outputs", { mode: "json" }).$type<TensorSpec[]>().notNull(),
    /** Companion files by name (tokenizer.json, …), each cached and verified like the model file. */
    files: text("files", { mode: "json" }).$type<Record<string, StoredCompanionFile>>().notNull().default({}),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull().default(NOW_MILLISECONDS),
  },
  (table) => [primaryKey({ columns: [table.modelName, table.version] }), index("model_versions_sha256_idx").on(table.sha256)],
);

/** Asynchronous jobs: the twin of `jobs` in ./pg.ts. */
export const jobs = sqliteTable(
  "jobs",
  {
    id: text("id").primaryKey(),
    modelName: text("model_name").notNull(),
    modelVersion: text("model_version"),
    priority: integer("priority").notNull(),
    status: text("status").$type<JobStatus>().notNull(),
    request: text("request", { mode: "json" }).$type<JobRequest>().notNull(),
    attempts: integer("attempts").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull(),
    runAfter: integer("run_after", { mode: "timestamp_ms" }).notNull(),
    leaseToken: text("lease_token"),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: integer("lease_expires_at", { mode: "timestamp_ms" }),
    result: text("result", { mode: "json" }).$type<unknown>(),
    resultPath: text("result_path"),
    resultStore: text("result_store").$type<ResultStoreKind>(),
    resultSizeBytes: integer("result_size_bytes", { mode: "number" }),
    error: text("error", { mode: "json" }).$type<JobError>(),
    callbackUrl: text("callback_url"),
    callbackState: text("callback_state").$type<CallbackState>(),
    callbackAttempts: integer("callback_attempts").notNull().default(0),
    callbackNextAt: integer("callback_next_at", { mode: "timestamp_ms" }),
    callbackLastError: text("callback_last_error"),
    ownerKeyId: text("owner_key_id"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    startedAt: integer("started_at", { mode: "timestamp_ms" }),
    finishedAt: integer("finished_at", { mode: "timestamp_ms" }),
  },
  (table) => [
    index("jobs_status_run_after_idx").on(table.status, table.runAfter),
    index("jobs_model_name_idx").on(table.modelName),
    index("jobs_owner_key_id_idx").on(table.ownerKeyId),
    index("jobs_callback_due_idx").on(table.callbackState, table.callbackNextAt),
  ],
);

/** Large job answers in the database: the twin of `job_results` in ./pg.ts. */
export const jobResults = sqliteTable(
  "job_results",
  {
    key: text("key").primaryKey(),
    jobId: text("job_id").notNull(),
    data: blob("data", { mode: "buffer" }).notNull(),
    sizeBytes: integer("size_bytes", { mode: "number" }).notNull(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [index("job_results_job_id_idx").on(table.jobId)],
);
