/**
 * Pins how the server's Config is merged (defaults < config file < environment < flags) and which
 * values are refused at start. The environment is passed in, never read from process.env.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { configTemplate } from "../../src/cli/commands/init.ts";
import { ConfigError, DEFAULT_CONFIG, flagOverrides, loadConfig, resolveConfig } from "../../src/config.ts";
import { LIMIT_DEFAULTS } from "../../src/runtime/limit-settings.ts";
import { SECURITY_DEFAULTS } from "../../src/security/settings.ts";

/** Runs `action` and returns the ConfigError it throws; fails the test if it throws anything else or nothing. */
function configErrorFrom(action: () => unknown): ConfigError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}

describe("defaults", () => {
  test("with no environment and no flags every setting takes its default", () => {
    const config = loadConfig([], {});
    expect(config).toEqual({ ...DEFAULT_CONFIG, dataDir: path.resolve(DEFAULT_CONFIG.dataDir) });
    expect(config.host).toBe("127.0.0.1");
    expect(config.httpPort).toBe(8080);
    expect(config.grpcPort).toBe(50051);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.memoryLimitMb).toBeUndefined();
    expect(config.maxLoadedModels).toBeUndefined();
    expect(config.maxBodyMb).toBe(64);
    expect(config.grpcMaxMessageMb).toBe(64);
    expect(config.shutdownGraceSeconds).toBe(10);
  });

  test("loading a config does not mutate DEFAULT_CONFIG", () => {
    const before = structuredClone(DEFAULT_CONFIG);
    loadConfig(["--port", "1234", "--data-dir", "/tmp/x"], { MODELMORA_HOST: "0.0.0.0" });
    expect(DEFAULT_CONFIG).toEqual(before);
  });
});

describe("environment overrides", () => {
  test("each MODELMORA_* variable and DATABASE_URL sets its setting", () => {
    const config = loadConfig([], {
      MODELMORA_HOST: "0.0.0.0",
      MODELMORA_PORT: "9000",
      MODELMORA_GRPC_PORT: "9001",
      MODELMORA_GRPC_MAX_MESSAGE_MB: "4",
      MODELMORA_DATA_DIR: "/var/lib/modelmora",
      DATABASE_URL: "postgres://user:pw@db:5432/modelmora",
      MODELMORA_MEMORY_LIMIT_MB: "2048",
      MODELMORA_MAX_LOADED_MODELS: "3",
      MODELMORA_MAX_BODY_MB: "16",
      MODELMORA_SHUTDOWN_GRACE_SECONDS: "2.5",
      MODELMORA_MAX_MODEL_MB: "512",
      MODELMORA_SHM_DIR: "/run/modelmora-shm",
      MODELMORA_SHM_MB: "64",
      MODELMORA_STANDBY_WORKERS: "0",
      MODELMORA_MAX_OUTPUT_MB: "8",
      MODELMORA_CORS_ORIGINS: "https://a.example,https://b.example",
      MODELMORA_GRPC_MAX_PENDING_PER_STREAM: "16",
      MODELMORA_GRPC_MAX_CONCURRENT_STREAMS: "32",
      MODELMORA_GRPC_KEEPALIVE_TIME_SECONDS: "30",
      MODELMORA_GRPC_KEEPALIVE_TIMEOUT_SECONDS: "5",
    });
    expect(config).toEqual({
      host: "0.0.0.0",
      httpPort: 9000,
      grpcPort: 9001,
      grpcMaxMessageMb: 4,
      dataDir: "/var/lib/modelmora",
      databaseUrl: "postgres://user:pw@db:5432/modelmora",
      memoryLimitMb: 2048,
      maxLoadedModels: 3,
      maxBodyMb: 16,
      shutdownGraceSeconds: 2.5,
      maxModelMb: 512,
      shmDir: "/run/modelmora-shm",
      shmMb: 64,
      standbyWorkers: 0,
      maxOutputMb: 8,
      ...SECURITY_DEFAULTS,
      ...LIMIT_DEFAULTS,
      corsOrigins: "https://a.example,https://b.example",
      grpcMaxPendingPerStream: 16,
      grpcMaxConcurrentStreams: 32,
      grpcKeepaliveTimeSeconds: 30,
      grpcKeepaliveTimeoutSeconds: 5,
    });
  });

  test("an empty environment variable counts as unset", () => {
    const config = loadConfig([], { MODELMORA_PORT: "", DATABASE_URL: "" });
    expect(config.httpPort).toBe(8080);
    expect(config.databaseUrl).toBeUndefined();
  });

  test("unrelated environment variables are ignored", () => {
    expect(loadConfig([], { PORT: "1", HOST: "example.com" }).httpPort).toBe(8080);
  });

  test("postgresql:// is accepted as well as postgres://", () => {
    expect(loadConfig([], { DATABASE_URL: "postgresql://db/modelmora" }).databaseUrl).toBe("postgresql://db/modelmora");
  });
});

describe("flags", () => {
  test("a flag wins over the environment variable for the same setting", () => {
    const config = loadConfig(["--port", "7000", "--host", "::1"], { MODELMORA_PORT: "9000", MODELMORA_HOST: "0.0.0.0" });
    expect(config.httpPort).toBe(7000);
    expect(config.host).toBe("::1");
  });

  test("settings without a flag keep their environment value", () => {
    const config = loadConfig(["--port", "7000"], { MODELMORA_GRPC_PORT: "7001" });
    expect(config.grpcPort).toBe(7001);
  });

  test("--flag=value is the same as --flag value", () => {
    expect(loadConfig(["--port=7000", "--grpc-port=7001"], {})).toEqual(loadConfig(["--port", "7000", "--grpc-port", "7001"], {}));
  });

  test("--flag=value keeps everything after the first '=' in the value", () => {
    const url = "postgres://user:p=w@db/modelmora?sslmode=require";
    expect(loadConfig([`--database-url=${url}`], {}).databaseUrl).toBe(url);
  });

  test("every documented flag sets its setting", () => {
    const config = loadConfig(
      [
        "--host", "0.0.0.0",
        "--port", "1",
        "--grpc-port", "2",
        "--grpc-max-message-mb", "1",
        "--data-dir", "/srv/data",
        "--database-url", "postgres://db/x",
        "--memory-limit-mb", "512",
        "--max-loaded-models", "2",
        "--max-body-mb", "8",
        "--shutdown-grace-seconds", "30",
        "--max-model-mb", "100",
        "--shm-dir", "/srv/shm",
        "--shm-mb", "32",
        "--standby-workers", "2",
        "--max-output-mb", "128",
        "--cors-origins", "*",
        "--grpc-max-pending-per-stream", "8",
        "--grpc-max-concurrent-streams", "4",
        "--grpc-keepalive-time-seconds", "60",
        "--grpc-keepalive-timeout-seconds", "10",
      ],
      {},
    );
    expect(config).toEqual({
      host: "0.0.0.0",
      httpPort: 1,
      grpcPort: 2,
      grpcMaxMessageMb: 1,
      dataDir: "/srv/data",
      databaseUrl: "postgres://db/x",
      memoryLimitMb: 512,
      maxLoadedModels: 2,
      maxBodyMb: 8,
      shutdownGraceSeconds: 30,
      maxModelMb: 100,
      shmDir: "/srv/shm",
      shmMb: 32,
      standbyWorkers: 2,
      maxOutputMb: 128,
      ...SECURITY_DEFAULTS,
      ...LIMIT_DEFAULTS,
      corsOrigins: "*",
      grpcMaxPendingPerStream: 8,
      grpcMaxConcurrentStreams: 4,
      grpcKeepaliveTimeSeconds: 60,
      grpcKeepaliveTimeoutSeconds: 10,
    });
  });

  test("port 0 (pick a free port) is allowed for both HTTP and gRPC", () => {
    const config = loadConfig(["--port", "0", "--grpc-port=0"], {});
    expect(config.httpPort).toBe(0);
    expect(config.grpcPort).toBe(0);
  });

  test("the highest port 65535 is allowed", () => {
    expect(loadConfig(["--port", "65535"], {}).httpPort).toBe(65535);
  });
});

describe("rejected values name the setting", () => {
  test.each(["-1", "65536", "80.5", "http", "", " ", "0x50", "1e3"])("port %p is refused", (raw) => {
    const error = configErrorFrom(() => resolveConfig({ httpPort: raw }));
    expect(error.message).toContain("httpPort");
  });

  test("an invalid MODELMORA_GRPC_PORT names grpcPort", () => {
    expect(configErrorFrom(() => loadConfig([], { MODELMORA_GRPC_PORT: "70000" })).message).toContain("grpcPort");
  });

  test("an empty inline flag value is not read as port 0", () => {
    const error = configErrorFrom(() => loadConfig(["--port="], {}));
    expect(error.message).toContain("--port");
  });

  test("an unknown flag is refused and named", () => {
    expect(configErrorFrom(() => flagOverrides(["--prot", "8080"])).message).toContain("--prot");
    expect(configErrorFrom(() => flagOverrides(["--prot=8080"])).message).toContain("--prot");
  });

  test("a positional argument is refused as an unknown flag", () => {
    expect(configErrorFrom(() => flagOverrides(["8080"])).message).toContain("8080");
  });

  test("an argument named like an Object.prototype member is an unknown flag, not silently accepted", () => {
    for (const argument of ["constructor", "toString", "__proto__"]) {
      expect(configErrorFrom(() => flagOverrides([argument, "x"])).message).toContain(argument);
    }
  });

  test("a flag at the end without a value is refused and named", () => {
    expect(configErrorFrom(() => flagOverrides(["--host", "0.0.0.0", "--port"])).message).toContain("--port");
  });

  test("a flag followed by another flag is missing its value, not given the next flag as value", () => {
    expect(configErrorFrom(() => flagOverrides(["--host", "--port", "9000"])).message).toContain("--host");
    expect(configErrorFrom(() => flagOverrides(["--host", "--port"])).message).toContain("--host");
  });

  test("a DATABASE_URL that is not postgres:// or postgresql:// is refused", () => {
    for (const url of ["mysql://db/x", "sqlite:///tmp/x.db", "/var/lib/db", "postgres:/db"]) {
      const error = configErrorFrom(() => loadConfig([], { DATABASE_URL: url }));
      expect(error.message).toContain("databaseUrl");
    }
  });

  test.each([
    ["memoryLimitMb", "0"],
    ["memoryLimitMb", "-5"],
    ["maxLoadedModels", "none"],
    ["maxBodyMb", "Infinity"],
  ] as const)("%s = %p is refused", (setting, raw) => {
    expect(configErrorFrom(() => resolveConfig({ [setting]: raw })).message).toContain(setting);
  });

  test.each([
    ["grpcMaxPendingPerStream", "0"],
    ["grpcMaxPendingPerStream", "4097"],
    ["grpcMaxPendingPerStream", "1.5"],
    ["grpcMaxConcurrentStreams", "0"],
    ["grpcKeepaliveTimeSeconds", "86401"],
    ["grpcKeepaliveTimeoutSeconds", "soon"],
    ["grpcMaxMessageMb", "2048"],
  ] as const)("gRPC limit %s = %p is outside its bounds and refused", (setting, raw) => {
    expect(configErrorFrom(() => resolveConfig({ [setting]: raw })).message).toContain(setting);
  });

  test("the gRPC message limit follows the HTTP body limit unless set", () => {
    expect(resolveConfig({ maxBodyMb: "16" }).grpcMaxMessageMb).toBe(16);
    expect(resolveConfig({ maxBodyMb: "16", grpcMaxMessageMb: "32" }).grpcMaxMessageMb).toBe(32);
    expect(resolveConfig({}).grpcMaxMessageMb).toBe(64);
  });

  test("ConfigError is an Error named ConfigError", () => {
    const error = configErrorFrom(() => flagOverrides(["--nope"]));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ConfigError");
  });
});

describe("dataDir", () => {
  test("a relative dataDir is resolved against the working directory", () => {
    const config = loadConfig(["--data-dir", "some/relative/dir"], {});
    expect(path.isAbsolute(config.dataDir)).toBe(true);
    expect(config.dataDir).toBe(path.join(process.cwd(), "some/relative/dir"));
  });

  test("the default dataDir is absolute too", () => {
    expect(loadConfig([], {}).dataDir).toBe(path.join(process.cwd(), "data"));
  });

  test("an absolute dataDir is kept, normalised", () => {
    expect(loadConfig([], { MODELMORA_DATA_DIR: "/srv/models/../data/" }).dataDir).toBe("/srv/data");
  });
});

describe("config file layer (defaults < file < environment < flags)", () => {
  let folder: string;

  beforeEach(() => {
    folder = mkdtempSync(path.join(os.tmpdir(), "modelmora-config-"));
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  function writeConfig(name: string, text: string): string {
    const filePath = path.join(folder, name);
    mkdirSync(path.dirname(filePath), { recursive: true });
    writeFileSync(filePath, text);
    return filePath;
  }

  test("./modelmora.config.json in the working directory is read when present, comments and trailing commas allowed", () => {
    writeConfig("modelmora.config.json", `// comment\n{ "httpPort": 9100, /* inline */ "maxBodyMb": 8, }\n`);
    const config = loadConfig([], {}, folder);
    expect(config.httpPort).toBe(9100);
    expect(config.maxBodyMb).toBe(8);
    expect(config.grpcPort).toBe(DEFAULT_CONFIG.grpcPort);
  });

  test("without a file (and none named) every setting keeps its default", () => {
    expect(loadConfig([], {}, folder)).toEqual({ ...DEFAULT_CONFIG, dataDir: path.join(folder, "data") });
  });

  test("the environment wins over the file, and flags win over both", () => {
    writeConfig("modelmora.config.json", `{ "httpPort": 9100, "grpcPort": 9101, "host": "0.0.0.0" }`);
    const config = loadConfig(["--port", "9300"], { MODELMORA_PORT: "9200", MODELMORA_GRPC_PORT: "9201" }, folder);
    expect(config.httpPort).toBe(9300);
    expect(config.grpcPort).toBe(9201);
    expect(config.host).toBe("0.0.0.0");
  });

  test("--config names the file (either spelling), and wins over MODELMORA_CONFIG and ./modelmora.config.json", () => {
    writeConfig("modelmora.config.json", `{ "httpPort": 1 }`);
    const fromEnvironment = writeConfig("env.json", `{ "httpPort": 2 }`);
    const fromFlag = writeConfig("flag.json", `{ "httpPort": 3 }`);
    expect(loadConfig([], { MODELMORA_CONFIG: fromEnvironment }, folder).httpPort).toBe(2);
    expect(loadConfig(["--config", fromFlag], { MODELMORA_CONFIG: fromEnvironment }, folder).httpPort).toBe(3);
    expect(loadConfig([`--config=${fromFlag}`], {}, folder).httpPort).toBe(3);
    expect(loadConfig(["--config", "flag.json"], {}, folder).httpPort).toBe(3);
  });

  test("a relative dataDir in the file is relative to the file's directory; flags and environment stay relative to the working directory", () => {
    const filePath = writeConfig("etc/modelmora.json", `{ "dataDir": "../state" }`);
    expect(loadConfig(["--config", filePath], {}, folder).dataDir).toBe(path.join(folder, "state"));
    expect(loadConfig(["--config", filePath, "--data-dir", "flagged"], {}, folder).dataDir).toBe(path.join(folder, "flagged"));
    expect(loadConfig(["--config", filePath], { MODELMORA_DATA_DIR: "from-env" }, folder).dataDir).toBe(path.join(folder, "from-env"));
  });

  test("null and empty strings in the file count as unset", () => {
    writeConfig("modelmora.config.json", `{ "databaseUrl": null, "memoryLimitMb": null, "host": "" }`);
    const config = loadConfig([], {}, folder);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.memoryLimitMb).toBeUndefined();
    expect(config.host).toBe(DEFAULT_CONFIG.host);
  });

  test("values in the file are validated like the others, naming the setting", () => {
    writeConfig("modelmora.config.json", `{ "httpPort": 70000 }`);
    expect(configErrorFrom(() => loadConfig([], {}, folder)).message).toContain("httpPort");
  });

  test("an unknown key is refused, naming the file and the key", () => {
    const filePath = writeConfig("modelmora.config.json", `{ "htttpPort": 1 }`);
    const message = configErrorFrom(() => loadConfig([], {}, folder)).message;
    expect(message).toContain(filePath);
    expect(message).toContain('"htttpPort"');
  });

  test("a value that is neither string nor number is refused", () => {
    writeConfig("modelmora.config.json", `{ "httpPort": [1] }`);
    expect(configErrorFrom(() => loadConfig([], {}, folder)).message).toContain("httpPort must be a string or a number");
  });

  test("a file that is not JSON, or not an object, is refused naming the file", () => {
    const broken = writeConfig("broken.json", `{ "httpPort": `);
    expect(configErrorFrom(() => loadConfig(["--config", broken], {}, folder)).message).toContain(broken);
    const array = writeConfig("array.json", `[1, 2]`);
    expect(configErrorFrom(() => loadConfig(["--config", array], {}, folder)).message).toContain("one JSON object");
  });

  test("a file named by --config or MODELMORA_CONFIG must exist", () => {
    expect(configErrorFrom(() => loadConfig(["--config", "absent.json"], {}, folder)).message).toContain("--config");
    expect(configErrorFrom(() => loadConfig([], { MODELMORA_CONFIG: "absent.json" }, folder)).message).toContain("MODELMORA_CONFIG");
  });

  test("--config without a value is refused", () => {
    expect(configErrorFrom(() => loadConfig(["--config"], {}, folder)).message).toContain("--config");
    expect(configErrorFrom(() => loadConfig(["--config", "--port", "1"], {}, folder)).message).toContain("--config");
  });

  test("the file `modelmora init` writes parses back to exactly the defaults", () => {
    const filePath = writeConfig("modelmora.config.json", configTemplate());
    expect(loadConfig([], {}, folder)).toEqual({ ...DEFAULT_CONFIG, dataDir: path.join(folder, "data") });
    expect(filePath).toBe(path.join(folder, "modelmora.config.json"));
  });

  test("the template mentions every setting with its environment variable", () => {
    const template = configTemplate();
    for (const key of Object.keys(DEFAULT_CONFIG)) expect(template).toContain(`"${key}"`);
    expect(template).toContain("MODELMORA_MAX_MODEL_MB");
    expect(template).toContain("DATABASE_URL");
  });
});

describe("resource limits", () => {
  test("the limits come from their environment variables", () => {
    const config = loadConfig([], {
      MODELMORA_MAX_MODELS: "10",
      MODELMORA_MAX_VERSIONS_PER_MODEL: "3",
      MODELMORA_MAX_CONCURRENT_REGISTRATIONS: "2",
      MODELMORA_LOAD_TIMEOUT_SECONDS: "45",
      MODELMORA_WATCHDOG_GRACE_SECONDS: "0.5",
      MODELMORA_WORKER_MEMORY_LIMIT_MB: "2048",
    });
    expect(config).toMatchObject({ maxModels: 10, maxVersionsPerModel: 3, maxConcurrentRegistrations: 2, loadTimeoutSeconds: 45, watchdogGraceSeconds: 0.5, workerMemoryLimitMb: 2048 });
  });

  test("without them the limits take bounded defaults", () => {
    const config = loadConfig([], {});
    expect(config.maxModels).toBe(LIMIT_DEFAULTS.maxModels);
    expect(config.maxConcurrentRegistrations).toBeGreaterThan(0);
    expect(config.loadTimeoutSeconds).toBeGreaterThan(0);
    expect(config.workerMemoryLimitMb).toBeUndefined();
  });

  test("counts must be whole numbers ≥ 1 and timers fit setTimeout (2^31−1 ms)", () => {
    expect(configErrorFrom(() => loadConfig([], { MODELMORA_MAX_MODELS: "0" })).message).toContain("maxModels");
    expect(configErrorFrom(() => loadConfig([], { MODELMORA_MAX_CONCURRENT_REGISTRATIONS: "1.5" })).message).toContain("maxConcurrentRegistrations");
    expect(configErrorFrom(() => loadConfig([], { MODELMORA_LOAD_TIMEOUT_SECONDS: "3000000" })).message).toContain("2147483.647 seconds");
    expect(configErrorFrom(() => loadConfig([], { MODELMORA_WATCHDOG_GRACE_SECONDS: "-1" })).message).toContain("watchdogGraceSeconds");
    expect(configErrorFrom(() => loadConfig([], { MODELMORA_WORKER_MEMORY_LIMIT_MB: "lots" })).message).toContain("workerMemoryLimitMb");
  });
});
