/**
 * One process per data directory. `serve` and the offline CLI (`--data-dir`) hold
 * `<dataDir>/modelmora.lock.pid` for as long as they use the embedded database there: the file is
 * created with O_EXCL and holds the owner's pid and command. A lock whose pid is no longer running
 * (the owner was killed) is stale and taken over; a live one is refused with a message naming the
 * holder. Only the owner removes its lock file, and it removes nothing else: PGlite's
 * `pgdata/postmaster.pid` of another process is never touched, because a refused process never
 * opens the database.
 *
 * @example
 * const lock = acquireDataDirLock("./data", "serve");
 * try { … } finally { lock.release(); }
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import path from "node:path";
import { StartupError, dataDirProblem } from "./startup-error.ts";

export const LOCK_FILE_NAME = "modelmora.lock.pid";

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still this process's; safe to call twice. */
  release(): void;
}

/** Creates the data directory if needed and takes its lock, or throws a StartupError. */
export function acquireDataDirLock(dataDir: string, command: string): DataDirLock {
  const lockPath = path.join(dataDir, LOCK_FILE_NAME);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw dataDirProblem(error, dataDir) ?? error;
  }
  const content = `${process.pid}\n${command}\n`;
  // Two attempts: the second after removing a stale lock (its owner is gone).
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const descriptor = openSync(lockPath, "wx", 0o644);
      try {
        writeSync(descriptor, content);
      } finally {
        closeSync(descriptor);
      }
      return ownedLock(lockPath, content);
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw dataDirProblem(error, dataDir) ?? error;
    }
    const holder = readHolder(lockPath);
    if (holder && isRunning(holder.pid)) {
      throw new StartupError(
        `data directory ${dataDir} (--data-dir / MODELMORA_DATA_DIR) is in use by process ${holder.pid} (modelmora ${holder.command || "?"}): ` +
          `stop it, talk to it with --server URL, or choose another data directory`,
      );
    }
    removeIfUnchanged(lockPath, holder?.raw);
  }
  throw new StartupError(`data directory ${dataDir} (--data-dir / MODELMORA_DATA_DIR) is being locked by another process at the same moment: try again`);
}

function ownedLock(lockPath: string, content: string): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    removeIfUnchanged(lockPath, content);
  };
  // A process that exits without closing (an uncaught error) still leaves no lock behind.
  process.on("exit", release);
  return { path: lockPath, release };
}

function readHolder(lockPath: string): { pid: number; command: string; raw: string } | undefined {
  let raw: string;
  try {
    raw = readFileSync(lockPath, "utf8");
  } catch {
    return undefined;
  }
  const [pidText = "", command = ""] = raw.split("\n");
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, command, raw } : { pid: 0, command, raw };
}

/** Signal 0 checks existence; EPERM means it exists under another user. */
function isRunning(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

/** Unlinks the lock only while it still holds `expected` (never another process's fresh lock). */
function removeIfUnchanged(lockPath: string, expected: string | undefined): void {
  try {
    if (expected !== undefined && readFileSync(lockPath, "utf8") !== expected) return;
    unlinkSync(lockPath);
  } catch {
    // Already gone.
  }
}
