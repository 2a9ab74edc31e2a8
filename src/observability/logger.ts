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
  return format === "pretty" ? pino(options, prettyStream(process.stdout)) : pino(options);
}

/**
 * A logger for lines that come by the thousand (the access line of every request): the same level,
 * bindings and output as `logger`, but the lines of one event-loop turn leave in one write, on the
 * next turn (and at exit), instead of one write(2) each; with one write per line, access lines took
 * about 15 % of the throughput of a tiny model under load. Other lines stay unbuffered, so a line
 * logged before an answer is out before the answer is.
 */
export function batchedLogger(logger: Logger): Logger {
  const destination = (logger as unknown as Record<symbol, { write(text: string): unknown }>)[pino.symbols.streamSym]!;
  let pending: string[] = [];
  const flush = () => {
    unflushed.delete(flush);
    if (pending.length === 0) return;
    const text = pending.join("");
    pending = [];
    destination.write(text);
  };
  const stream = {
    write(line: string) {
      if (pending.length === 0) {
        unflushed.add(flush);
        setImmediate(flush);
      }
      pending.push(line);
    },
  };
  return pino({ level: logger.level, base: logger.bindings(), timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

/** Batched loggers holding lines not yet written; written out if the process exits first. */
const unflushed = new Set<() => void>();
process.on("exit", () => {
  for (const flush of unflushed) flush();
});
