/**
 * The process-wide structured logger (pino, one JSON object per line on stdout).
 * Level from `MODELMORA_LOG_LEVEL` (default `info`). Format from `MODELMORA_LOG_FORMAT`: `json`
 * (one JSON object per line, for collectors) or `pretty` (src/observability/pretty-log.ts, for
 * people); the default is `pretty` when stdout is a terminal and `json` otherwise. Tests read the
 * `"event":"listening"` line, so they run with stdout piped (json).
 */
import pino from "pino";
import { StartupError } from "../runtime/startup-error.ts";
import { prettyStream } from "./pretty-log.ts";

export type Logger = pino.Logger;

export type LogFormat = "json" | "pretty";

/** The format named by `MODELMORA_LOG_FORMAT`, else by whether stdout is a terminal. */
export function logFormat(environment: Record<string, string | undefined> = process.env, stdoutIsTty = process.stdout.isTTY === true): LogFormat {
  const named = environment.MODELMORA_LOG_FORMAT;
  if (named === undefined || named === "") return stdoutIsTty ? "pretty" : "json";
  if (named === "json" || named === "pretty") return named;
  throw new StartupError(`MODELMORA_LOG_FORMAT is "${named}": use json or pretty`);
}

export function createLogger(level = process.env.MODELMORA_LOG_LEVEL ?? "info", format: LogFormat = logFormat()): Logger {
  if (!(level in pino.levels.values) && level !== "silent") {
    throw new StartupError(`MODELMORA_LOG_LEVEL is "${level}": use one of ${Object.keys(pino.levels.values).join(", ")} or silent`);
  }
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  return format === "pretty" ? pino(options, prettyStream(process.stdout)) : pino(options, bufferedStdout());
}

/** Bytes of JSON lines gathered before one write to stdout. */
const LOG_BUFFER_BYTES = 4096;
/** Lines wait at most this long for company before they are written anyway. */
const LOG_FLUSH_MILLISECONDS = 50;

let stdout: pino.DestinationStream | undefined;

/**
 * stdout for JSON lines, written LOG_BUFFER_BYTES at a time (or every LOG_FLUSH_MILLISECONDS):
 * one write(2) per line, an access line per request, was a tenth of the server's CPU under load.
 * One per process, flushed when the process exits; a process killed with -9 loses at most the
 * last LOG_FLUSH_MILLISECONDS of lines.
 */
function bufferedStdout(): pino.DestinationStream {
  if (!stdout) {
    const destination = pino.destination({ dest: 1, sync: true, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MILLISECONDS });
    process.once("exit", () => destination.flushSync());
    stdout = destination;
  }
  return stdout;
}
