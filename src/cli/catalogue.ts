/**
 * The model catalogue as the CLI's catalogue commands (install, list, info, lock, sync, uninstall)
 * see it, reached one of two ways:
 *
 * - **server mode** (the default): the REST API of a running server, at `--server URL`, else
 *   `MODELMORA_URL`, else the host and port of the config. The server downloads and verifies.
 * - **offline mode** (`--data-dir DIR`): the registry on that data directory (its embedded database, or
 *   the database of `--database-url` / `DATABASE_URL` / the config file), with no server running
 *   on it. The CLI downloads and verifies, with a progress bar.
 *
 * `--server` and `--data-dir` together are a usage error: each names where the catalogue lives.
 */
import type { Config } from "../config.ts";
import type { WorkerState } from "../lifecycle/pool.ts";
import type { ModelConfigPatch } from "../registry/model-config.ts";
import type { ModelRecord, RegisterModelInput } from "../registry/registry.ts";
import { usageError } from "./exit-codes.ts";

/** A model as the catalogue reports it; `state` only in server mode (offline, nothing is loaded). */
export interface ModelSummary extends ModelRecord {
  state?: WorkerState;
}

export interface Catalogue {
  /** "server http://…" or "data directory /…", for messages. */
  readonly where: string;
  readonly offline: boolean;
  list(task?: string): Promise<ModelSummary[]>;
  /** Throws MODEL_NOT_FOUND (exit 3) for an unknown name. */
  get(name: string): Promise<ModelSummary>;
  find(name: string): Promise<ModelSummary | undefined>;
  /** Downloads (or reuses the cached file with the same sha256), verifies and registers. */
  register(input: RegisterModelInput): Promise<ModelSummary>;
  remove(name: string): Promise<ModelSummary>;
  updateConfig(name: string, patch: ModelConfigPatch): Promise<ModelSummary>;
  activate(name: string, version: string): Promise<ModelSummary>;
  close(): Promise<void>;
}

/** Where the catalogue commands work, from their `--server` / `--data-dir` flags. */
export type CatalogueLocation = { mode: "server"; url: string } | { mode: "offline"; dataDir: string; databaseUrl: string | undefined; config: Config };

export function chooseLocation(flags: { server?: string; dataDir?: string }, resolveServerUrl: () => string, config: Config): CatalogueLocation {
  if (flags.server !== undefined && flags.dataDir !== undefined) {
    throw usageError("--server and --data-dir exclude each other: --server talks to a running server, --data-dir works offline on a data directory");
  }
  if (flags.dataDir !== undefined) return { mode: "offline", dataDir: config.dataDir, databaseUrl: config.databaseUrl, config };
  return { mode: "server", url: resolveServerUrl() };
}
