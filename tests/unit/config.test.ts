/**
 * Pins how the server's Config is merged (defaults < environment < flags) and which values are
 * refused at start. The environment is passed in, never read from process.env.
 */
import { describe, expect, test } from "bun:test";
import path from "node:path";
import { ConfigError, DEFAULT_CONFIG, flagOverrides, loadConfig, resolveConfig } from "../../src/config.ts";

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
