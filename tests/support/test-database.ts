/**
 * The database a test runs against.
 * - `DATABASE_URL` unset: PGlite in the test's data directory. Creating a PGlite cluster
 *   (initdb in WASM) takes seconds, so one migrated template is made per test process and
 *   copied into each data directory; `databaseUrl` is undefined.
 * - `DATABASE_URL` set (CI's second pass): a fresh PostgreSQL database per test, created through
 *   that URL and dropped on dispose, so tests never share rows.
 */
import { rmSync } from "node:fs";
import { cp, mkdir, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { openDatabase } from "../../src/registry/database.ts";

export interface TestDatabase extends AsyncDisposable {
  /** postgres://… of the per-test database, or undefined for PGlite. */
  databaseUrl: string | undefined;
}

let pgliteTemplate: Promise<string> | undefined;
let pgliteTemplateDirectory: string | undefined;

/**
 * Removes this process's template. `bun test` does not emit "exit" to listeners, so the global
 * afterAll of tests/support/test-cleanup.ts (preloaded by bunfig.toml) calls this.
 */
export function removePgliteTemplate(): void {
  if (pgliteTemplateDirectory) rmSync(pgliteTemplateDirectory, { recursive: true, force: true });
  pgliteTemplateDirectory = undefined;
  pgliteTemplate = undefined;
}

/** Made once per test process and removed after its last test (and on exit, for other runners). */
async function makePgliteTemplate(): Promise<string> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "modelmora-pglite-template-"));
  pgliteTemplateDirectory = dataDir;
  process.once("exit", () => rmSync(dataDir, { recursive: true, force: true }));
  const database = await openDatabase({ dataDir });
  await database.close();
  return path.join(dataDir, "pgdata");
}

/** Prepares the database for a server or registry that will use `dataDir`. */
export async function testDatabase(dataDir: string): Promise<TestDatabase> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    pgliteTemplate ??= makePgliteTemplate();
    await mkdir(dataDir, { recursive: true });
    await cp(await pgliteTemplate, path.join(dataDir, "pgdata"), { recursive: true });
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
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
    },
  };
}
