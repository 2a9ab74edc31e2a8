/**
 * Start-up problems that are the operator's to fix (a busy port, an unwritable data directory, an
 * unknown host, an unreachable DATABASE_URL …), as opposed to bugs. Each is one line naming the
 * flag or environment variable and saying what to do; the CLI prints it and exits 2 (usage/config),
 * with no stack.
 *
 * @example
 * throw portInUse("HTTP", "127.0.0.1", 8080, "--port", "MODELMORA_PORT");
 */
export class StartupError extends Error {
  override readonly name = "StartupError";
}

/** The errno-style code of a system error (`EADDRINUSE`, `EACCES`, …), if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

export function portInUse(what: "HTTP" | "gRPC", host: string, port: number, flag: string, variable: string): StartupError {
  return new StartupError(
    `${what} port ${port} on ${host} is already in use (${flag} / ${variable}): stop the process that holds it, or choose another port (0 picks a free one)`,
  );
}

/**
 * The data directory cannot be used: `EACCES`/`EPERM` (not writable), `ENOTDIR`/`EEXIST` (a file
 * is in the way), `EROFS`, `ENOSPC`. Undefined for other errors, which stay bugs.
 */
export function dataDirProblem(error: unknown, dataDir: string): StartupError | undefined {
  const where = `data directory ${dataDir} (--data-dir / MODELMORA_DATA_DIR)`;
  switch (errorCode(error)) {
    case "EACCES":
    case "EPERM":
      return new StartupError(`${where} is not writable by this user: fix its permissions or choose another directory`);
    case "ENOTDIR":
    case "EEXIST":
      return new StartupError(`${where} is a file, or lies under one: remove the file or choose another directory`);
    case "EROFS":
      return new StartupError(`${where} is on a read-only file system: choose a writable directory`);
    case "ENOSPC":
      return new StartupError(`${where} has no space left: free some space or choose another directory`);
    default:
      return undefined;
  }
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}
