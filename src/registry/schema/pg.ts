/**
 * The registry's tables for PostgreSQL (and, through drizzle-kit, the SQL in drizzle/pg). The
 * embedded twin is ./sqlite.ts: same tables, columns and TypeScript row types, built with
 * sqlite-core; ./index.ts checks at compile time that the two stay alike.
 */
import { bigint, index, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";
import type { ModelConfig } from "../model-config.ts";
import type { TensorSpec } from "../tensor-spec.ts";
import type { StoredCompanionFile } from "../companion-files.ts";

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
