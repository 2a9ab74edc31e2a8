/**
 * One typed, validated server Config, merged from defaults < environment < command-line flags.
 * Invalid values fail fast at start with a message naming the setting.
 */
import path from "node:path";

export interface Config {
  host: string;
  httpPort: number;
  /** gRPC front end (KServe v2 GRPCInferenceService, health, reflection, modelmora.v1); 0 picks a free port. */
  grpcPort: number;
  /**
   * Largest gRPC message received or sent. A bigger request is refused with RESOURCE_EXHAUSTED
   * before it is decoded; raising it lets larger tensors through at the cost of holding each whole
   * message in memory while it is decoded.
   */
  grpcMaxMessageMb: number;
  dataDir: string;
  /** postgres://… selects PostgreSQL; unset selects the embedded PGlite database under dataDir. */
  databaseUrl: string | undefined;
  /** Memory budget for all loaded models together; undefined = unbounded. */
  memoryLimitMb: number | undefined;
  /** Cap on loaded models; undefined = unbounded. */
  maxLoadedModels: number | undefined;
  /** Largest accepted HTTP request body. Bigger bodies get 413 PAYLOAD_TOO_LARGE. */
  maxBodyMb: number;
  /** How long a graceful shutdown waits for queued and running requests before stopping workers. */
  shutdownGraceSeconds: number;
}

export const DEFAULT_CONFIG: Config = {
  host: "127.0.0.1",
  httpPort: 8080,
  grpcPort: 50051,
  grpcMaxMessageMb: 64,
  dataDir: "./data",
  databaseUrl: undefined,
  memoryLimitMb: undefined,
  maxLoadedModels: undefined,
  maxBodyMb: 64,
  shutdownGraceSeconds: 10,
};

type Overrides = Partial<Record<keyof Config, string | undefined>>;

const ENVIRONMENT_NAMES: Partial<Record<keyof Config, string>> = {
  host: "MODELMORA_HOST",
  httpPort: "MODELMORA_PORT",
  grpcPort: "MODELMORA_GRPC_PORT",
  grpcMaxMessageMb: "MODELMORA_GRPC_MAX_MESSAGE_MB",
  dataDir: "MODELMORA_DATA_DIR",
  databaseUrl: "DATABASE_URL",
  memoryLimitMb: "MODELMORA_MEMORY_LIMIT_MB",
  maxLoadedModels: "MODELMORA_MAX_LOADED_MODELS",
  maxBodyMb: "MODELMORA_MAX_BODY_MB",
  shutdownGraceSeconds: "MODELMORA_SHUTDOWN_GRACE_SECONDS",
};

/** Command-line flag → Config key, as documented in `modelmora serve --help`. */
export const SERVE_FLAGS: Record<string, keyof Config> = {
  "--host": "host",
  "--port": "httpPort",
  "--grpc-port": "grpcPort",
  "--grpc-max-message-mb": "grpcMaxMessageMb",
  "--data-dir": "dataDir",
  "--database-url": "databaseUrl",
  "--memory-limit-mb": "memoryLimitMb",
  "--max-loaded-models": "maxLoadedModels",
  "--max-body-mb": "maxBodyMb",
  "--shutdown-grace-seconds": "shutdownGraceSeconds",
};

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export function environmentOverrides(environment: Record<string, string | undefined>): Overrides {
  const overrides: Overrides = {};
  for (const [key, variable] of Object.entries(ENVIRONMENT_NAMES) as [keyof Config, string][]) {
    const value = environment[variable];
    if (value !== undefined && value !== "") overrides[key] = value;
  }
  return overrides;
}

/** Parses `--flag value` and `--flag=value` pairs; unknown flags are an error. */
export function flagOverrides(argv: readonly string[]): Overrides {
  const overrides: Overrides = {};
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    const [flag, inlineValue] = argument.includes("=") ? argument.split(/=(.*)/s, 2) : [argument, undefined];
    const key = Object.hasOwn(SERVE_FLAGS, flag!) ? SERVE_FLAGS[flag!] : undefined; // not "constructor", "toString"…
    if (!key) throw new ConfigError(`unknown flag ${flag}`);
    const value = inlineValue ?? argv[++index];
    // `--port=` and `--host --port 80` are missing values, not "" (port 0) or "--port".
    if (value === undefined || value === "" || (inlineValue === undefined && value.startsWith("--"))) {
      throw new ConfigError(`flag ${flag} needs a value`);
    }
    overrides[key] = value;
  }
  return overrides;
}

export function resolveConfig(...layers: Overrides[]): Config {
  const merged: Overrides = Object.assign({}, ...layers);
  const config = { ...DEFAULT_CONFIG };
  if (merged.host !== undefined) config.host = merged.host;
  if (merged.httpPort !== undefined) config.httpPort = port("httpPort", merged.httpPort);
  if (merged.grpcPort !== undefined) config.grpcPort = port("grpcPort", merged.grpcPort);
  if (merged.grpcMaxMessageMb !== undefined) config.grpcMaxMessageMb = positive("grpcMaxMessageMb", merged.grpcMaxMessageMb);
  if (merged.dataDir !== undefined) config.dataDir = merged.dataDir;
  if (merged.databaseUrl !== undefined) config.databaseUrl = merged.databaseUrl;
  if (merged.memoryLimitMb !== undefined) config.memoryLimitMb = positive("memoryLimitMb", merged.memoryLimitMb);
  if (merged.maxLoadedModels !== undefined) config.maxLoadedModels = positive("maxLoadedModels", merged.maxLoadedModels);
  if (merged.maxBodyMb !== undefined) config.maxBodyMb = positive("maxBodyMb", merged.maxBodyMb);
  if (merged.shutdownGraceSeconds !== undefined) config.shutdownGraceSeconds = positive("shutdownGraceSeconds", merged.shutdownGraceSeconds);
  if (config.databaseUrl && !/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    throw new ConfigError("databaseUrl must start with postgres:// or postgresql://");
  }
  config.dataDir = path.resolve(config.dataDir);
  return config;
}

/** The server's config: defaults < environment < flags. */
export function loadConfig(argv: readonly string[], environment = process.env): Config {
  return resolveConfig(environmentOverrides(environment), flagOverrides(argv));
}

function port(name: string, raw: string): number {
  // Decimal digits only: Number() would read "", " " as 0 and "0x50", "1e3" as other ports.
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new ConfigError(`${name} must be a port number 0..65535, got "${raw}"`);
  return value;
}

function positive(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a positive number, got "${raw}"`);
  return value;
}
