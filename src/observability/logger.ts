/**
 * The process-wide structured logger (pino, one JSON object per line on stdout).
 * Level from `MODELMORA_LOG_LEVEL` (default `info`). Tests read the `"event":"listening"` line.
 */
import pino from "pino";

export type Logger = pino.Logger;

export function createLogger(level = process.env.MODELMORA_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
