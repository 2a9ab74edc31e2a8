/**
 * The registry's tables for the embedded database (bun:sqlite), and through drizzle-kit the SQL in
 * drizzle/sqlite. Column for column the twin of ./pg.ts: JSON in text columns, times as integer
 * milliseconds (Date in TypeScript, as on PostgreSQL), the same names, keys and index.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { ModelConfig } from "../model-config.ts";
import type { TensorSpec } from "../tensor-spec.ts";
import type { StoredCompanionFile } from "../companion-files.ts";

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
