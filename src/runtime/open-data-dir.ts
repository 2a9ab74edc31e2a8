/**
 * Opens the registry database the way both `serve` and the offline CLI must: the data directory
 * locked first (embedded PGlite only; PostgreSQL does its own locking, and servers sharing it is
 * the scale-out design), so a refused process never opens — or cleans up — another's database;
 * and a database that cannot be opened reported as the operator's problem, not a bug.
 */
import { accessSync, constants, mkdirSync } from "node:fs";
import { type OpenDatabase, openDatabase } from "../registry/database.ts";
import { acquireDataDirLock } from "./data-dir-lock.ts";
import { StartupError, dataDirProblem, redactUrl } from "./startup-error.ts";

export async function openDataDirDatabase(options: { dataDir: string; databaseUrl: string | undefined; command: string }): Promise<OpenDatabase> {
  const { dataDir, databaseUrl } = options;
  if (databaseUrl) {
    checkWritable(dataDir);
    try {
      return await openDatabase({ dataDir, databaseUrl });
    } catch (error) {
      throw new StartupError(
        `cannot open the database at DATABASE_URL / --database-url (${redactUrl(databaseUrl)}): ${firstLine(error)}: check the URL, and that PostgreSQL runs and accepts these credentials`,
      );
    }
  }
  const lock = acquireDataDirLock(dataDir, options.command);
  let database: OpenDatabase;
  try {
    database = await openDatabase({ dataDir });
  } catch (error) {
    lock.release();
    throw dataDirProblem(error, dataDir) ?? error;
  }
  return {
    ...database,
    async close() {
      try {
        await database.close();
      } finally {
        lock.release();
      }
    },
  };
}

/** The model cache lives in the data directory whichever database holds the catalogue. */
function checkWritable(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK);
  } catch (error) {
    throw dataDirProblem(error, dataDir) ?? error;
  }
}

/** The innermost cause's first line (drizzle wraps "ECONNREFUSED" in "Failed query: …"). */
function firstLine(error: unknown): string {
  let root = error;
  while (root instanceof Error && root.cause !== undefined) root = root.cause;
  const code = (root as { code?: unknown } | null)?.code;
  const text = root instanceof Error ? root.message : String(root);
  const line = text.split("\n")[0] || String(code ?? "unknown error");
  return typeof code === "string" && !line.includes(code) ? `${code} ${line}` : line;
}
