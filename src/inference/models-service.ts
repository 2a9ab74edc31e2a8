/**
 * Model administration that spans the registry and the worker pool: the model view with its
 * live state, explicit load/unload, deletion (workers stop before rows go), version switches.
 */
import type { WorkerPool, WorkerState, WorkerStatus } from "../lifecycle/pool.ts";
import type { ModelConfigPatch } from "../registry/model-config.ts";
import type { ModelRecord, ModelRegistry, RegisterModelInput } from "../registry/registry.ts";
import type { InferenceService } from "./service.ts";

export interface ModelView extends ModelRecord {
  /** State of the active version's worker. */
  state: WorkerState;
}

export class ModelsService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly pool: WorkerPool,
    private readonly inference: InferenceService,
  ) {}

  async register(input: RegisterModelInput): Promise<ModelView> {
    return this.view(await this.registry.register(input));
  }

  async list(filter: { task?: string } = {}): Promise<ModelView[]> {
    return (await this.registry.list(filter)).map((record) => this.view(record));
  }

  async get(name: string): Promise<ModelView> {
    return this.view(await this.registry.get(name));
  }

  /** Config changes apply to workers started afterwards; a loaded worker keeps its settings. */
  async updateConfig(name: string, config: ModelConfigPatch): Promise<ModelView> {
    return this.view(await this.registry.updateConfig(name, config));
  }

  /** Makes `version` active; the previous version's worker is stopped. */
  async setActiveVersion(name: string, version: string): Promise<ModelView> {
    const before = await this.registry.get(name);
    const after = await this.registry.setActiveVersion(name, version);
    if (before.activeVersion !== version) await this.pool.unload(name, before.activeVersion);
    return this.view(after);
  }

  /** Stops the model's workers, then removes its rows and unused cached files. */
  async delete(name: string): Promise<ModelView> {
    const existing = await this.registry.get(name);
    for (const version of existing.versions) this.inference.forget({ name, version: version.version, sha256: version.sha256 });
    await this.pool.unload(name);
    const record = await this.registry.delete(name);
    return { ...record, state: "unloaded" };
  }

  async load(name: string, version?: string): Promise<WorkerStatus> {
    return this.pool.load(await this.registry.resolve(name, version));
  }

  async unload(name: string, version?: string): Promise<void> {
    await this.registry.get(name);
    await this.pool.unload(name, version);
  }

  private view(record: ModelRecord): ModelView {
    return { ...record, state: this.pool.stateOf(record.name, record.activeVersion) };
  }
}
