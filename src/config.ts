/**
 * One typed, validated server Config, merged from defaults < config file < environment <
 * command-line flags. Invalid values fail fast at start with a message naming the setting.
 *
 * The config file (JSON with comments, written by `modelmora init`) is the one named by
 * `--config PATH`, else by `MODELMORA_CONFIG`, else `./modelmora.config.json` when it exists. Its
 * keys are the Config keys below; relative paths in it are resolved against its own directory.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { LIMIT_DEFAULTS, LIMIT_ENVIRONMENT_NAMES, type LimitsConfig, resolveLimitsConfig } from "./runtime/limit-settings.ts";
import { GRPC_LIMITS_DEFAULTS, GRPC_LIMITS_ENVIRONMENT_NAMES, GRPC_LIMITS_FLAGS, type GrpcLimitsConfig, resolveGrpcLimits } from "./security/grpc-limits.ts";
import { SECURITY_DEFAULTS, SECURITY_ENVIRONMENT_NAMES, type SecurityConfig, resolveSecurityConfig } from "./security/settings.ts";

/**
 * Security settings (API keys, TLS, source policy): src/security/settings.ts; gRPC limits:
 * src/security/grpc-limits.ts; resource limits: src/runtime/limit-settings.ts.
 */
export interface Config extends SecurityConfig, GrpcLimitsConfig, LimitsConfig {
  host: string;
  httpPort: number;
  /** gRPC front end (KServe v2 GRPCInferenceService, health, reflection, modelmora.v1); 0 picks a free port. */
  grpcPort: number;
  /**
   * Largest gRPC message received or sent. A bigger request is refused with RESOURCE_EXHAUSTED
   * before it is decoded; raising it lets larger tensors through at the cost of holding each whole
   * message in memory while it is decoded. Unset, it follows `maxBodyMb`, so both front ends accept
   * the same request size. At most 2047 (grpc-js counts bytes in a 32-bit integer).
   */
  grpcMaxMessageMb: number;
  dataDir: string;
  /** postgres://… selects PostgreSQL; unset selects the embedded SQLite database under dataDir. */
  databaseUrl: string | undefined;
  /** Memory budget for all loaded models together; undefined = unbounded. */
  memoryLimitMb: number | undefined;
  /** Cap on loaded models; undefined = unbounded. */
  maxLoadedModels: number | undefined;
  /** Largest accepted HTTP request body. Bigger bodies get 413 PAYLOAD_TOO_LARGE. */
  maxBodyMb: number;
  /** How long a graceful shutdown waits for queued and running requests before stopping workers. */
  shutdownGraceSeconds: number;
  /**
   * Largest model file a registration may download or copy (PAYLOAD_TOO_LARGE beyond it);
   * undefined = the built-in 4096 MB. Raising it admits bigger models at the cost of disk.
   */
  maxModelMb: number | undefined;
  /**
   * Where the shared-memory arenas live (tensors cross to workers through them): undefined = /dev/shm
   * when it has room, else `<dataDir>/shm` (a disk-backed mapping, slower when memory is short).
   */
  shmDir: string | undefined;
  /**
   * Size of each arena: a model version's input arena bounds the request bytes queued for it at once
   * (more wait, then QUEUE_FULL), a worker's output arena the output bytes of answers not yet sent
   * (more travel inline, slower). Files are sparse: only bytes in use at once take memory.
   */
  shmMb: number;
  /** Worker processes kept started (onnxruntime imported) for the next model load; 0 = none. */
  standbyWorkers: number;
  /**
   * Largest answer one request may get (all its outputs together), checked in the worker before
   * anything reaches the server: a small request to a model that expands it cannot flood the
   * server's memory. Larger answers fail with 422 OUTPUT_TOO_LARGE.
   */
  maxOutputMb: number;
  /**
   * Browser origins allowed to call the REST API (CORS), comma-separated, or "*" for any; unset =
   * no CORS headers (browsers on other origins are refused, as before). Each origin opened widens
   * who can drive the API from a user's browser.
   */
  corsOrigins: string | undefined;
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
  maxModelMb: undefined,
  shmDir: undefined,
  shmMb: 256,
  standbyWorkers: 1,
  maxOutputMb: 64,
  ...SECURITY_DEFAULTS,
  ...GRPC_LIMITS_DEFAULTS,
  ...LIMIT_DEFAULTS,
  corsOrigins: undefined,
};

/** grpc-js counts message bytes in a signed 32-bit integer: 2047 MiB is the most it can express. */
const MAX_GRPC_MESSAGE_MB = 2047;

/** The config file read when neither `--config` nor `MODELMORA_CONFIG` names one, if it exists. */
export const DEFAULT_CONFIG_FILE = "modelmora.config.json";

/** Environment variable naming the config file. */
export const CONFIG_FILE_ENVIRONMENT = "MODELMORA_CONFIG";

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
  maxModelMb: "MODELMORA_MAX_MODEL_MB",
  shmDir: "MODELMORA_SHM_DIR",
  shmMb: "MODELMORA_SHM_MB",
  standbyWorkers: "MODELMORA_STANDBY_WORKERS",
  maxOutputMb: "MODELMORA_MAX_OUTPUT_MB",
  ...SECURITY_ENVIRONMENT_NAMES,
  ...GRPC_LIMITS_ENVIRONMENT_NAMES,
  ...LIMIT_ENVIRONMENT_NAMES,
  corsOrigins: "MODELMORA_CORS_ORIGINS",
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
  "--max-model-mb": "maxModelMb",
  "--shm-dir": "shmDir",
  "--shm-mb": "shmMb",
  "--standby-workers": "standbyWorkers",
  "--max-output-mb": "maxOutputMb",
  "--cors-origins": "corsOrigins",
  ...GRPC_LIMITS_FLAGS,
};

/** The environment variable of each setting that has one (`modelmora init` documents them). */
export function environmentNameOf(key: keyof Config): string | undefined {
  return ENVIRONMENT_NAMES[key];
}

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
  const fail = (message: string) => new ConfigError(message);
  const config: Config = {
    ...DEFAULT_CONFIG,
    ...resolveSecurityConfig(merged, fail),
    ...resolveGrpcLimits(merged, fail),
    ...resolveLimitsConfig(merged, fail),
  };
  if (merged.host !== undefined) config.host = merged.host;
  if (merged.httpPort !== undefined) config.httpPort = port("httpPort", merged.httpPort);
  if (merged.grpcPort !== undefined) config.grpcPort = port("grpcPort", merged.grpcPort);
  if (merged.grpcMaxMessageMb !== undefined) config.grpcMaxMessageMb = positive("grpcMaxMessageMb", merged.grpcMaxMessageMb);
  if (merged.dataDir !== undefined) config.dataDir = merged.dataDir;
  if (merged.databaseUrl !== undefined) config.databaseUrl = merged.databaseUrl;
  if (merged.memoryLimitMb !== undefined) config.memoryLimitMb = positive("memoryLimitMb", merged.memoryLimitMb);
  if (merged.maxLoadedModels !== undefined) config.maxLoadedModels = positive("maxLoadedModels", merged.maxLoadedModels);
  if (merged.maxBodyMb !== undefined) config.maxBodyMb = positive("maxBodyMb", merged.maxBodyMb);
  // Unset, the gRPC message limit follows the HTTP body limit.
  if (merged.grpcMaxMessageMb === undefined) config.grpcMaxMessageMb = Math.min(config.maxBodyMb, MAX_GRPC_MESSAGE_MB);
  if (config.grpcMaxMessageMb > MAX_GRPC_MESSAGE_MB) throw new ConfigError(`grpcMaxMessageMb must be at most ${MAX_GRPC_MESSAGE_MB}, got "${merged.grpcMaxMessageMb}"`);
  if (merged.shutdownGraceSeconds !== undefined) config.shutdownGraceSeconds = positive("shutdownGraceSeconds", merged.shutdownGraceSeconds);
  if (merged.maxModelMb !== undefined) config.maxModelMb = positive("maxModelMb", merged.maxModelMb);
  if (merged.shmDir !== undefined) config.shmDir = path.resolve(merged.shmDir);
  if (merged.shmMb !== undefined) config.shmMb = positive("shmMb", merged.shmMb);
  if (merged.standbyWorkers !== undefined) config.standbyWorkers = count("standbyWorkers", merged.standbyWorkers);
  if (merged.maxOutputMb !== undefined) config.maxOutputMb = positive("maxOutputMb", merged.maxOutputMb);
  if (merged.corsOrigins !== undefined) config.corsOrigins = merged.corsOrigins;
  if (config.databaseUrl && !/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    throw new ConfigError("databaseUrl must start with postgres:// or postgresql://");
  }
  config.dataDir = path.resolve(config.dataDir);
  return config;
}

/**
 * The server's config: defaults < config file < environment < flags. `argv` may hold
 * `--config PATH` besides the SERVE_FLAGS; `cwd` is where `./modelmora.config.json` is looked for
 * and what relative data directories from flags and environment are relative to.
 */
export function loadConfig(argv: readonly string[], environment: Record<string, string | undefined> = process.env, cwd = process.cwd()): Config {
  const { configFile, rest } = takeConfigFlag(argv);
  const file = findConfigFile(configFile, environment, cwd);
  const fromCwd = (overrides: Overrides): Overrides => (overrides.dataDir === undefined ? overrides : { ...overrides, dataDir: path.resolve(cwd, overrides.dataDir) });
  return resolveConfig(
    { dataDir: path.resolve(cwd, DEFAULT_CONFIG.dataDir) },
    file ? configFileOverrides(file) : {},
    fromCwd(environmentOverrides(environment)),
    fromCwd(flagOverrides(rest)),
  );
}

/** Splits `--config PATH` / `--config=PATH` off the other arguments. */
export function takeConfigFlag(argv: readonly string[]): { configFile: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let configFile: string | undefined;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (argument !== "--config" && !argument.startsWith("--config=")) {
      rest.push(argument);
      continue;
    }
    const value = argument === "--config" ? argv[++index] : argument.slice("--config=".length);
    if (value === undefined || value === "" || (argument === "--config" && value.startsWith("--"))) throw new ConfigError("flag --config needs a value");
    configFile = value;
  }
  return { configFile, rest };
}

/**
 * The config file to read: `explicit` (the `--config` flag), else `MODELMORA_CONFIG`, else
 * `./modelmora.config.json` if it exists, else none. A file named explicitly must exist.
 */
export function findConfigFile(explicit: string | undefined, environment: Record<string, string | undefined>, cwd: string): string | undefined {
  const named = explicit ?? (environment[CONFIG_FILE_ENVIRONMENT] || undefined);
  if (named !== undefined) {
    const resolved = path.resolve(cwd, named);
    if (!existsSync(resolved)) throw new ConfigError(`config file ${resolved} does not exist (named by ${explicit !== undefined ? "--config" : CONFIG_FILE_ENVIRONMENT})`);
    return resolved;
  }
  const fallback = path.join(cwd, DEFAULT_CONFIG_FILE);
  return existsSync(fallback) ? fallback : undefined;
}

/**
 * Reads a config file (JSON with comments and trailing commas) as one layer of overrides.
 * Keys are Config keys; a value is a string or number (`null` = unset, as if absent). Unknown
 * keys and other types are refused, naming the file and the key.
 */
export function configFileOverrides(filePath: string): Overrides {
  let parsed: unknown;
  try {
    parsed = Bun.JSONC.parse(readFileSync(filePath, "utf8"));
  } catch (error) {
    throw new ConfigError(`config file ${filePath} is not valid JSON with comments: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${filePath} must hold one JSON object`);
  const overrides: Overrides = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!Object.hasOwn(DEFAULT_CONFIG, key)) {
      throw new ConfigError(`config file ${filePath}: unknown setting "${key}"; known settings: ${Object.keys(DEFAULT_CONFIG).join(", ")}`);
    }
    if (value === null || value === "") continue;
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") throw new ConfigError(`config file ${filePath}: ${key} must be a string or a number`);
    overrides[key as keyof Config] = String(value);
  }
  if (overrides.dataDir !== undefined) overrides.dataDir = path.resolve(path.dirname(filePath), overrides.dataDir);
  return overrides;
}

function port(name: string, raw: string): number {
  // Decimal digits only: Number() would read "", " " as 0 and "0x50", "1e3" as other ports.
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new ConfigError(`${name} must be a port number 0..65535, got "${raw}"`);
  return value;
}

function count(name: string, raw: string): number {
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw new ConfigError(`${name} must be a whole number ≥ 0, got "${raw}"`);
  return value;
}

function positive(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a positive number, got "${raw}"`);
  return value;
}
