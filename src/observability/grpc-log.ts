/**
 * Routes grpc-js's own log lines (it prints "E No address added …" on stderr when a bind fails)
 * into the structured logger, so stderr carries only the one-line start-up message.
 */
import { setLogger } from "@grpc/grpc-js";
import type { Logger } from "./logger.ts";

export function routeGrpcLogs(logger: Logger): void {
  const write = (level: "debug" | "info" | "warn", args: unknown[]) => logger[level]({ event: "grpc_js" }, args.map(String).join(" "));
  setLogger({
    error: (...args: unknown[]) => write("warn", args),
    info: (...args: unknown[]) => write("info", args),
    debug: (...args: unknown[]) => write("debug", args),
  });
}
