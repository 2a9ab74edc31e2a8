/**
 * The registry's two schemas (src/registry/schema/pg.ts and sqlite.ts) describe the same tables:
 * the type check compares their rows (schema/index.ts); this compares what reaches the SQL —
 * table and column names, NOT NULL, keys, indexes and foreign keys.
 */
import { expect, test } from "bun:test";
import { getTableConfig as pgConfig } from "drizzle-orm/pg-core";
import { getTableConfig as sqliteConfig } from "drizzle-orm/sqlite-core";
import * as pg from "../../src/registry/schema/pg.ts";
import * as sqlite from "../../src/registry/schema/sqlite.ts";

type Config = ReturnType<typeof pgConfig> | ReturnType<typeof sqliteConfig>;

function shape(config: Config) {
  return {
    name: config.name,
    columns: config.columns.map((column) => ({ name: column.name, notNull: column.notNull, primary: column.primary, hasDefault: column.hasDefault })),
    primaryKeys: config.primaryKeys.map((key) => key.columns.map((column) => column.name)),
    indexes: config.indexes.map((index) => index.config.name),
    foreignKeys: config.foreignKeys.map((key) => {
      const reference = key.reference();
      return { columns: reference.columns.map((column) => column.name), foreignColumns: reference.foreignColumns.map((column) => column.name), onDelete: key.onDelete };
    }),
  };
}

test("the PostgreSQL and SQLite schemas have the same tables, columns, keys, indexes and foreign keys", () => {
  expect(shape(sqliteConfig(sqlite.models))).toEqual(shape(pgConfig(pg.models)));
  expect(shape(sqliteConfig(sqlite.modelVersions))).toEqual(shape(pgConfig(pg.modelVersions)));
  expect(shape(sqliteConfig(sqlite.jobs))).toEqual(shape(pgConfig(pg.jobs)));
  expect(Object.keys(sqlite).sort()).toEqual(Object.keys(pg).sort());
});
