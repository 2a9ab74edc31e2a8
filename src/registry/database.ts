/**
 * Opens the registry database and applies the drizzle/ migrations: embedded PGlite under
 * `<dataDir>/pgdata` by default, PostgreSQL (postgres.js) when a `postgres://` URL is given.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { EMBEDDED_ASSETS, assetPath } from "../runtime/embedded-assets.ts";
import { embeddedPgliteOptions } from "../runtime/pglite-assets.ts";
import * as schema from "./schema.ts";

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface OpenDatabase {
  db: Database;
  kind: "pglite" | "postgres";
  close(): Promise<void>;
}

/** drizzle/ in the repository, or its embedded copy in the compiled binary. */
export const MIGRATIONS_FOLDER = assetPath(EMBEDDED_ASSETS.migrations);

export async function openDatabase(options: { dataDir: string; databaseUrl?: string }): Promise<OpenDatabase> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl);
  return openPglite(path.join(options.dataDir, "pgdata"));
}

async function openPglite(directory: string): Promise<OpenDatabase> {
  const [{ PGlite }, { drizzle }, { migrate }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("drizzle-orm/pglite"),
    import("drizzle-orm/pglite/migrator"),
  ]);
  await mkdir(directory, { recursive: true });
  const client = new PGlite(directory, await embeddedPgliteOptions());
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  return { db: db as unknown as Database, kind: "pglite", close: () => client.close() };
}

async function openPostgres(databaseUrl: string): Promise<OpenDatabase> {
  const [{ default: postgres }, { drizzle }, { migrate }] = await Promise.all([
    import("postgres"),
    import("drizzle-orm/postgres-js"),
    import("drizzle-orm/postgres-js/migrator"),
  ]);
  const client = postgres(databaseUrl, { max: 10, onnotice: () => undefined });
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  return { db: db as unknown as Database, kind: "postgres", close: () => client.end({ timeout: 5 }) };
}
