/**
 * `modelmora serve`: starts the REST and gRPC servers and runs until SIGTERM/SIGINT, then shuts
 * down gracefully. Its flags are src/config.ts's SERVE_FLAGS (plus `--config`), parsed there.
 */
import { ConfigError, SERVE_FLAGS, loadConfig } from "../../config.ts";
import { createLogger } from "../../observability/logger.ts";
import { startServer } from "../../server.ts";
import { EXIT, type ExitCode, usageError } from "../exit-codes.ts";
import type { Io } from "../io.ts";

export const SERVE_HELP = `usage: modelmora serve [flags]

Start the REST and gRPC servers (workers are spawned per model on first use).

flags (each also settable by environment variable and in the config file; flags win):
  --config PATH            MODELMORA_CONFIG          config file (default ./modelmora.config.json if present)
  --host HOST              MODELMORA_HOST            default 127.0.0.1
  --port PORT              MODELMORA_PORT            default 8080 (0 = pick a free port)
  --grpc-port PORT         MODELMORA_GRPC_PORT       default 50051 (0 = pick a free port)
  --grpc-max-message-mb N  MODELMORA_GRPC_MAX_MESSAGE_MB  default 64: larger gRPC messages get RESOURCE_EXHAUSTED
  --data-dir DIR           MODELMORA_DATA_DIR        default ./data (embedded database + model cache)
  --database-url URL       DATABASE_URL              postgres://… to use PostgreSQL instead of the embedded database
  --memory-limit-mb N      MODELMORA_MEMORY_LIMIT_MB      budget for all workers' RSS; idle models evicted LRU
  --max-loaded-models N    MODELMORA_MAX_LOADED_MODELS    cap on model versions loaded at once
  --max-body-mb N          MODELMORA_MAX_BODY_MB          default 64
  --max-model-mb N         MODELMORA_MAX_MODEL_MB         default 4096: largest model file a registration may fetch
  --cors-origins LIST      MODELMORA_CORS_ORIGINS    browser origins allowed (CORS), comma-separated, or "*"; unset = none
  --shutdown-grace-seconds N
                           MODELMORA_SHUTDOWN_GRACE_SECONDS  default 10: queued requests finish first
  --help, -h               this text
`;

/** Runs the server until a signal stops it; resolves with 0 after a graceful shutdown. */
export async function serve(argv: string[], io: Io): Promise<ExitCode> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.stdout(SERVE_HELP);
    return EXIT.ok;
  }
  let config;
  try {
    config = loadConfig(argv, io.env, io.cwd);
  } catch (error) {
    if (error instanceof ConfigError) throw usageError(`${error.message}\nknown flags: --config, ${Object.keys(SERVE_FLAGS).join(", ")}`);
    throw error;
  }
  const logger = createLogger();
  let server;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    // API keys, TLS files and the listen guard are checked at start (src/security).
    if (error instanceof ConfigError) throw usageError(error.message);
    throw error;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ event: "shutdown", signal }, "shutting down");
      void server.stop().then(resolve);
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
  return EXIT.ok;
}
