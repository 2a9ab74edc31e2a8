/**
 * The database a test runs against.
 * - `DATABASE_URL` unset: the embedded SQLite database in the test's data directory, which the
 *   server or registry creates and migrates itself when it opens it (milliseconds); `databaseUrl`
 *   is undefined.
 * - `DATABASE_URL` set (CI's second pass): a fresh PostgreSQL database per test, created through
 *   that URL and dropped on dispose, so tests never share rows.
 */
import { mkdir } from "node:fs/promises";
import postgres from "postgres";

export interface TestDatabase extends AsyncDisposable {
  /** postgres://… of the per-test database, or undefined for the embedded database. */
  databaseUrl: string | undefined;
}

/** Prepares the database for a server or registry that will use `dataDir`. */
export async function testDatabase(dataDir: string): Promise<TestDatabase> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    await mkdir(dataDir, { recursive: true });
    return { databaseUrl: undefined, [Symbol.asyncDispose]: async () => undefined };
  }
  const name = `modelmora_test_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    async [Symbol.asyncDispose]() {
      await dropDatabase(admin, name);
      await admin.end({ timeout: 5 });
    },
  };
}

/**
 * Drops a test database, cutting its connections. An autovacuum worker that happens to be in it
 * can only be cut by a role with pg_signal_backend (CI grants it); without it, wait for the worker to
 * finish and try again.
 */
async function dropDatabase(admin: postgres.Sql, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== "42501" || attempt === 10) throw error;
      await Bun.sleep(200);
    }
  }
}
