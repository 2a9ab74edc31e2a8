/**
 * Exit codes every `modelmora` command keeps, so that scripts can branch on them, and the one
 * error type commands throw to choose one.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success |
 * | 1 | the operation failed: the server or the registry refused or could not do it (bad source, checksum mismatch, model failed to load, server not ready …) |
 * | 2 | usage error: unknown command or flag, missing or malformed argument, unreadable or invalid input file (`--input`, modelmora.lock, config file) |
 * | 3 | not found: the named model or version is not registered, or a named file does not exist |
 * | 4 | the server cannot be reached (connection refused, DNS, timeout) |
 */
import type { ErrorCode } from "../errors.ts";

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notFound: 3,
  unreachable: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure with the exit code it deserves; `code` is the server's error code when there is one. */
export class CliError extends Error {
  override readonly name = "CliError";

  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly code?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, message, "USAGE");
}

const NOT_FOUND_CODES: ReadonlySet<string> = new Set<ErrorCode>(["MODEL_NOT_FOUND", "VERSION_NOT_FOUND", "JOB_NOT_FOUND"]);

/** The exit code for a domain error code (ModelMoraError or a REST error body): 3 for unknown models and versions, else 1. */
export function exitCodeFor(code: string | undefined): ExitCode {
  return code !== undefined && NOT_FOUND_CODES.has(code) ? EXIT.notFound : EXIT.failed;
}
