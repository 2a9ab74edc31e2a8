/**
 * The catalogue of a data directory, opened by the CLI itself (no server): the same registry,
 * cache and signature inspection the server uses, with the CLI's progress bar on downloads.
 *
 * A data directory another process uses is refused: `serve` and the offline CLI hold a lock file
 * there (src/runtime/data-dir-lock.ts; a stale one, whose pid is gone, is taken over), and the
 * embedded database's own exclusive SQLite lock backs it up (DatabaseInUseError), so two processes
 * never write one catalogue.
 */
import { ModelMoraError } from "../errors.ts";
import { createInspector } from "../lifecycle/inspect.ts";
import { spawnWorkerProcess } from "../lifecycle/worker-process.ts";
import { DatabaseInUseError, type OpenDatabase } from "../registry/database.ts";
import { openDataDirDatabase } from "../runtime/open-data-dir.ts";
import { type FetchProgress, ModelCache } from "../registry/model-cache.ts";
import type { ModelConfigPatch } from "../registry/model-config.ts";
import { ModelRegistry, type RegisterModelInput } from "../registry/registry.ts";
import type { Catalogue, ModelSummary } from "./catalogue.ts";
import { CliError, EXIT } from "./exit-codes.ts";

export interface OfflineOptions {
  dataDir: string;
  databaseUrl: string | undefined;
  /** Largest model file accepted; undefined = the cache's default. */
  maxFileBytes: number | undefined;
  environment: Record<string, string | undefined>;
  onProgress?: (progress: FetchProgress) => void;
}

export class OfflineCatalogue implements Catalogue {
  readonly offline = true;
  readonly where: string;

  private constructor(
    private readonly database: OpenDatabase,
    private readonly registry: ModelRegistry,
    dataDir: string,
  ) {
    this.where = `data directory ${dataDir}`;
  }

  static async open(options: OfflineOptions): Promise<OfflineCatalogue> {
    let database: OpenDatabase;
    try {
      database = await openDataDirDatabase({ dataDir: options.dataDir, databaseUrl: options.databaseUrl, command: "cli" });
    } catch (error) {
      if (!(error instanceof DatabaseInUseError)) throw error;
      throw new CliError(EXIT.usage, `the database in ${options.dataDir} is open in another process: talk to that server with --server URL instead of --data-dir`, "DATA_DIR_IN_USE");
    }
    const cache = new ModelCache(options.dataDir, { maxFileBytes: options.maxFileBytes, environment: options.environment, onProgress: options.onProgress });
    const registry = new ModelRegistry(database, cache, createInspector(spawnWorkerProcess));
    return new OfflineCatalogue(database, registry, options.dataDir);
  }

  list(task?: string): Promise<ModelSummary[]> {
    return this.registry.list({ task });
  }

  get(name: string): Promise<ModelSummary> {
    return this.registry.get(name);
  }

  async find(name: string): Promise<ModelSummary | undefined> {
    try {
      return await this.registry.get(name);
    } catch (error) {
      if (error instanceof ModelMoraError && error.code === "MODEL_NOT_FOUND") return undefined;
      throw error;
    }
  }

  register(input: RegisterModelInput): Promise<ModelSummary> {
    return this.registry.register(input);
  }

  remove(name: string): Promise<ModelSummary> {
    return this.registry.delete(name);
  }

  updateConfig(name: string, patch: ModelConfigPatch): Promise<ModelSummary> {
    return this.registry.updateConfig(name, patch);
  }

  activate(name: string, version: string): Promise<ModelSummary> {
    return this.registry.setActiveVersion(name, version);
  }

  close(): Promise<void> {
    return this.database.close();
  }
}
