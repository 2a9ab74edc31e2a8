/**
 * The catalogue of a data directory, opened by the CLI itself (no server): the same registry,
 * cache and signature inspection the server uses, with the CLI's progress bar on downloads.
 *
 * PGlite does not lock its files, and two processes writing one PGlite directory corrupt it, so the
 * data directory is locked while the catalogue is open (src/runtime/data-dir-lock.ts): a directory a
 * server or another CLI holds is refused (exit 2) with the holder's pid.
 */
import { ModelMoraError } from "../errors.ts";
import { createInspector } from "../lifecycle/inspect.ts";
import { spawnWorkerProcess } from "../lifecycle/worker-process.ts";
import type { OpenDatabase } from "../registry/database.ts";
import { openDataDirDatabase } from "../runtime/open-data-dir.ts";
import { type FetchProgress, ModelCache } from "../registry/model-cache.ts";
import type { ModelConfigPatch } from "../registry/model-config.ts";
import { ModelRegistry, type RegisterModelInput } from "../registry/registry.ts";
import type { Catalogue, ModelSummary } from "./catalogue.ts";

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
    const database = await openDataDirDatabase({ dataDir: options.dataDir, databaseUrl: options.databaseUrl, command: "cli" });
    const cache = new ModelCache(options.dataDir, { maxFileBytes: options.maxFileBytes, environment: options.environment, onProgress: options.onProgress });
    const registry = new ModelRegistry(database.db, cache, createInspector(spawnWorkerProcess));
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
