/**
 * The flags that say where a command's models live, and turning them into a Catalogue or a
 * ServerClient (see catalogue.ts for the server/offline rule).
 */
import { type Config, ConfigError, loadConfig } from "../config.ts";
import { type FlagSpec, type ParsedArguments, stringFlag } from "./arguments.ts";
import { type Catalogue, chooseLocation } from "./catalogue.ts";
import { usageError } from "./exit-codes.ts";
import type { Io } from "./io.ts";
import { downloadProgress } from "./progress.ts";
import { RemoteCatalogue } from "./remote-catalogue.ts";
import { API_KEY_ENVIRONMENT, SERVER_URL_ENVIRONMENT, ServerClient, serverUrl } from "./server-client.ts";

export const JSON_FLAG: FlagSpec = { flag: "--json", description: "print JSON on stdout instead of tables (for scripts)" };
export const CONFIG_FLAG: FlagSpec = { flag: "--config", value: "PATH", description: "config file (default: $MODELMORA_CONFIG, else ./modelmora.config.json if present)" };
export const SERVER_FLAG: FlagSpec = {
  flag: "--server",
  value: "URL",
  description: `server to talk to (default: $${SERVER_URL_ENVIRONMENT}, else http://<host>:<httpPort> from the config)`,
};
export const DATA_DIR_FLAG: FlagSpec = { flag: "--data-dir", value: "DIR", description: "work offline on this data directory instead of a server (no server may be running on it)" };
export const DATABASE_URL_FLAG: FlagSpec = { flag: "--database-url", value: "URL", description: "offline mode: postgres://… instead of the embedded database under --data-dir" };

export const API_KEY_FLAG: FlagSpec = { flag: "--api-key", value: "KEY", description: `API key sent to the server (default: $${API_KEY_ENVIRONMENT})` };

/** Flags of the commands that work on a server or offline. */
export const CATALOGUE_FLAGS: FlagSpec[] = [SERVER_FLAG, API_KEY_FLAG, DATA_DIR_FLAG, DATABASE_URL_FLAG, CONFIG_FLAG, JSON_FLAG];
/** Flags of the commands that need a running server (workers, inference, health). */
export const SERVER_ONLY_FLAGS: FlagSpec[] = [SERVER_FLAG, API_KEY_FLAG, CONFIG_FLAG, JSON_FLAG];

/** The API key to send: `--api-key`, else `MODELMORA_API_KEY`, else none. */
function apiKeyOf(args: ParsedArguments, io: Io): string | undefined {
  return stringFlag(args, "--api-key") ?? (io.env[API_KEY_ENVIRONMENT] || undefined);
}

/** The config as the client sees it: file < environment < the `--data-dir` / `--database-url` flags. */
export function clientConfig(args: ParsedArguments, io: Io): Config {
  const argv: string[] = [];
  for (const flag of ["--config", "--data-dir", "--database-url"]) {
    const value = stringFlag(args, flag);
    if (value !== undefined) argv.push(flag, value);
  }
  try {
    return loadConfig(argv, io.env, io.cwd);
  } catch (error) {
    if (error instanceof ConfigError) throw usageError(error.message);
    throw error;
  }
}

export async function openCatalogue(args: ParsedArguments, io: Io): Promise<Catalogue> {
  const config = clientConfig(args, io);
  const server = stringFlag(args, "--server");
  const dataDir = stringFlag(args, "--data-dir");
  if (dataDir === undefined && stringFlag(args, "--database-url") !== undefined) throw usageError("--database-url applies to offline mode only: give --data-dir too");
  const location = chooseLocation({ server, dataDir }, () => serverUrl(server, io.env, config), config);
  if (location.mode === "server") return new RemoteCatalogue(location.url, io, apiKeyOf(args, io));
  // Loaded only offline: the database drivers and the worker spawner are not needed to talk to a server.
  const { OfflineCatalogue } = await import("./offline-catalogue.ts");
  return OfflineCatalogue.open({
    dataDir: location.dataDir,
    databaseUrl: location.databaseUrl,
    maxFileBytes: config.maxModelMb === undefined ? undefined : config.maxModelMb * 1024 * 1024,
    environment: io.env,
    onProgress: downloadProgress(io),
  });
}

export function connectServer(args: ParsedArguments, io: Io): ServerClient {
  const config = clientConfig(args, io);
  return new ServerClient(serverUrl(stringFlag(args, "--server"), io.env, config), apiKeyOf(args, io));
}
