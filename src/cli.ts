#!/usr/bin/env bun
/**
 * `modelmora <command>`: the command-line entry. Today: `serve`. The other commands
 * (init, install, list, info, lock, …) arrive with the CLI issue.
 */
import { ConfigError, SERVE_FLAGS, loadConfig } from "./config.ts";
import { createLogger } from "./observability/logger.ts";
import { startServer } from "./server.ts";

const USAGE = `usage: modelmora <command> [flags]

commands:
  serve     start the REST and gRPC servers (workers are spawned per model on first use)

serve flags (each also settable by environment variable):
  --host HOST              MODELMORA_HOST            default 127.0.0.1
  --port PORT              MODELMORA_PORT            default 8080 (0 = pick a free port)
  --grpc-port PORT         MODELMORA_GRPC_PORT       default 50051 (0 = pick a free port)
  --grpc-max-message-mb N  MODELMORA_GRPC_MAX_MESSAGE_MB  default 64: larger gRPC messages get RESOURCE_EXHAUSTED
  --data-dir DIR           MODELMORA_DATA_DIR        default ./data (PGlite database + model cache)
  --database-url URL       DATABASE_URL              postgres://… to use PostgreSQL instead of PGlite
  --memory-limit-mb N      MODELMORA_MEMORY_LIMIT_MB      budget for all workers' RSS; idle models evicted LRU
  --max-loaded-models N    MODELMORA_MAX_LOADED_MODELS    cap on model versions loaded at once
  --max-body-mb N          MODELMORA_MAX_BODY_MB          default 64
  --shutdown-grace-seconds N
                           MODELMORA_SHUTDOWN_GRACE_SECONDS  default 10: queued requests finish first
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== "serve") {
    process.stderr.write(`modelmora: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  return serve(rest);
}

async function serve(flags: string[]): Promise<number> {
  let config;
  try {
    config = loadConfig(flags);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`modelmora serve: ${error.message}\nknown flags: ${Object.keys(SERVE_FLAGS).join(", ")}\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger();
  const server = await startServer(config, logger);
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ event: "shutdown", signal }, "shutting down");
      void server.stop().then(resolve);
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
