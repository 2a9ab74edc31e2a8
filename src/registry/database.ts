/**
 * Opens the registry database and applies its migrations: the embedded SQLite file
 * `<dataDir>/registry.sqlite` (bun:sqlite) by default, PostgreSQL (postgres.js) when a
 * `postgres://` URL is given. Both hand the registry the same query builder surface (`Database`)
 * and tables with the same rows (`Tables`, see ./schema/index.ts).
 *
 * Why SQLite and not PGlite (bench/embedded-db.ts, bench/README.md): a first start on an empty data
 * directory takes milliseconds instead of PGlite's ~5 s initdb, and the idle server stays near
 * PostgreSQL's footprint instead of ~300 MB of WebAssembly Postgres.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { ConfigError } from "../config.ts";
import { EMBEDDED_ASSETS, assetPath } from "../runtime/embedded-assets.ts";
import type { Tables } from "./schema/index.ts";
import * as pgTables from "./schema/pg.ts";
import * as sqliteTables from "./schema/sqlite.ts";

export type { Tables } from "./schema/index.ts";

/**
 * The query builder the registry writes against. On SQLite it is a drizzle bun-sqlite database seen
 * through the pg-core type: the registry only uses the builders both dialects share (select, insert
 * with onConflictDoNothing, update, delete, where/orderBy/limit), awaited one statement at a time,
 * and goes through `atomically` for transactions. The registry suite runs on both dialects.
 */
export type Database = PgDatabase<PgQueryResultHKT, Tables>;

/** A statement built but not yet run (drizzle builders run when awaited). */
export type Statement = PromiseLike<unknown>;

export interface OpenDatabase {
  db: Database;
  tables: Tables;
  kind: "sqlite" | "postgres";
  /**
   * Runs the statements in one transaction, in order; all or none take effect. They are built
   * up front from `transaction`, so none may depend on another's result (bun:sqlite transactions
   * are synchronous: nothing else can run between the statements).
   */
  atomically(statements: (transaction: Database) => Statement[]): Promise<void>;
  /** PostgreSQL only: NOTIFY `channel` to every server on the database (this one included). */
  notify?(channel: string, payload?: string): Promise<void>;
  /** PostgreSQL only: LISTEN on `channel`; `onNotify` runs for every notification. */
  listen?(channel: string, onNotify: (payload: string) => void): Promise<void>;
  /** Resolves when the database answers a trivial query (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The embedded database's file under the data directory. */
export const EMBEDDED_DATABASE_FILE = "registry.sqlite";

/** drizzle/pg or drizzle/sqlite in the repository, or their embedded copies in the compiled binary. */
export function migrationsFolder(dialect: "pg" | "sqlite"): string {
  return path.join(assetPath(EMBEDDED_ASSETS.migrations), dialect);
}

/**
 * The embedded database is held open by another process (a server, or an offline CLI command). A
 * ConfigError, like a busy port: `serve` reports it in one line with exit 2.
 */
export class DatabaseInUseError extends ConfigError {}

export async function openDatabase(options: { dataDir: string; databaseUrl?: string }): Promise<OpenDatabase> {
  if (options.databaseUrl) return openPostgres(options.databaseUrl);
  return openSqlite(options.dataDir);
}

async function openSqlite(dataDir: string): Promise<OpenDatabase> {
  const [{ Database: SqliteClient }, { drizzle }, { migrate }] = await Promise.all([import("bun:sqlite"), import("drizzle-orm/bun-sqlite"), import("drizzle-orm/bun-sqlite/migrator")]);
  const file = path.join(dataDir, EMBEDDED_DATABASE_FILE);
  refuseEarlierPglite(dataDir, file);
  await mkdir(dataDir, { recursive: true });
  const client = new SqliteClient(file, { create: true });
  try {
    // One process owns the file for as long as it is open: EXCLUSIVE locking takes the write lock at
    // the first transaction below and keeps it (released by close or by the process exiting), so a
    // second server or an offline CLI on the same data directory fails here at once.
    client.run("PRAGMA locking_mode = EXCLUSIVE");
    client.run("PRAGMA busy_timeout = 0");
    client.run("BEGIN EXCLUSIVE");
    client.run("COMMIT");
  } catch (error) {
    client.close();
    if ((error as { code?: unknown }).code === "SQLITE_BUSY") {
      throw new DatabaseInUseError(`the database ${file} is open in another process (a running server, or another modelmora command on --data-dir ${dataDir})`, { cause: error });
    }
    throw error;
  }
  // The default rollback journal rather than WAL: under EXCLUSIVE locking a WAL database cannot
  // give its lock back before the connection is really closed, which drizzle's unfinalized
  // statements postpone (close() below could not release it). FULL syncs every commit, which costs
  // nothing at the registry's write rate.
  client.run("PRAGMA synchronous = FULL");
  client.run("PRAGMA foreign_keys = ON");
  const db = drizzle({ client, schema: sqliteTables });
  migrate(db, { migrationsFolder: migrationsFolder("sqlite") });
  return {
    db: db as unknown as Database,
    tables: sqliteTables as unknown as Tables,
    kind: "sqlite",
    async atomically(statements) {
      db.transaction((transaction) => {
        for (const statement of statements(transaction as unknown as Database)) (statement as unknown as { run(): unknown }).run();
      });
    },
    async ping() {
      client.query("select 1").get();
    },
    async close() {
      // Back to NORMAL locking and one read: SQLite then drops the exclusive lock at once, even if
      // close() has to wait for statements drizzle still holds.
      client.run("PRAGMA locking_mode = NORMAL");
      client.query("select count(*) from sqlite_master").get();
      client.close();
    },
  };
}

/**
 * Earlier versions kept the catalogue in PGlite under `<dataDir>/pgdata`; this version does not read
 * it. Rather than start with an empty catalogue next to it, say how to carry the models over.
 */
function refuseEarlierPglite(dataDir: string, file: string): void {
  if (existsSync(file) || !existsSync(path.join(dataDir, "pgdata", "PG_VERSION"))) return;
  const lock = path.join(dataDir, "modelmora.lock");
  throw new ConfigError(
    `${path.join(dataDir, "pgdata")} is the PGlite catalogue of an earlier ModelMora, which this version no longer reads (it keeps ${EMBEDDED_DATABASE_FILE}): with the previous version run "modelmora lock --data-dir ${dataDir} --output ${lock}", move pgdata out of ${dataDir}, then run "modelmora sync --lock ${lock} --data-dir ${dataDir}" with this one (cached model files are reused); or set --database-url`,
  );
}

/** The PostgreSQL advisory lock migrations run under (any constant; "modelmora" in ASCII, as a bigint). */
const MIGRATION_LOCK_KEY = String(0x6d6f64656c6d6f72n);

async function openPostgres(databaseUrl: string): Promise<OpenDatabase> {
  const [{ default: postgres }, { drizzle }, { migrate }] = await Promise.all([import("postgres"), import("drizzle-orm/postgres-js"), import("drizzle-orm/postgres-js/migrator")]);
  const client = postgres(databaseUrl, { max: 10, onnotice: () => undefined });
  const db = drizzle(client, { schema: pgTables });
  // Replicas may start together on an empty database: one migrates while the others wait on the
  // lock (held by one reserved session), then find nothing left to do.
  const lockSession = await client.reserve();
  try {
    await lockSession`select pg_advisory_lock(${MIGRATION_LOCK_KEY}::bigint)`;
    await migrate(db, { migrationsFolder: migrationsFolder("pg") });
  } finally {
    await lockSession`select pg_advisory_unlock(${MIGRATION_LOCK_KEY}::bigint)`.catch(() => undefined);
    lockSession.release();
  }
  return {
    db: db as unknown as Database,
    tables: pgTables,
    kind: "postgres",
    async atomically(statements) {
      await db.transaction(async (transaction) => {
        for (const statement of statements(transaction as unknown as Database)) await statement;
      });
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    async notify(channel, payload = "") {
      await client.notify(channel, payload);
    },
    async listen(channel, onNotify) {
      await client.listen(channel, onNotify);
    },
    close: () => client.end({ timeout: 5 }),
  };
}
