/**
 * Model administration that spans the registry and the worker pool: the model view with its
 * live state, explicit load/unload, deletion (workers stop before rows go), version switches.
 */
import { ModelMoraError } from "../errors.ts";
import type { WorkerPool, WorkerState, WorkerStatus } from "../lifecycle/pool.ts";
import type { Logger } from "../observability/logger.ts";
import type { TensorSpec } from "../registry/tensor-spec.ts";
import type { ModelConfigPatch } from "../registry/model-config.ts";
import type { ModelRecord, ModelRegistry, RegisterModelInput } from "../registry/registry.ts";
import type { InferenceService } from "./service.ts";
import { redactUrl } from "../runtime/startup-error.ts";

export interface ModelView extends ModelRecord {
  /** State of the active version's worker. */
  state: WorkerState;
}

/** KServe v2 model metadata (`GET /v2/models/{name}[/versions/{v}]`, gRPC ModelMetadata). */
export interface ModelMetadata {
  name: string;
  /** Every registered version; the one asked about (or the active one) first. */
  versions: string[];
  platform: "onnxruntime_onnx";
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

export class ModelsService {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly pool: WorkerPool,
    private readonly inference: InferenceService,
    private readonly logger: Logger,
  ) {}

  async register(input: RegisterModelInput): Promise<ModelView> {
    let record: ModelRecord;
    try {
      record = await this.registry.register(input);
    } catch (error) {
      this.logger.warn(
        { event: "registration_failed", model: input.name, version: input.version, source: loggableSource(input.source), code: error instanceof ModelMoraError ? error.code : undefined, error: String(error instanceof Error ? error.message : error) },
        "registration failed",
      );
      throw error;
    }
    const version = record.versions.find((candidate) => candidate.version === input.version) ?? record.versions.at(-1);
    this.logger.info(
      { event: "model_registered", model: record.name, version: version?.version, task: record.task, source: loggableSource(input.source), sha256: version?.sha256, size_bytes: version?.sizeBytes, active_version: record.activeVersion },
      "model registered",
    );
    return this.view(record);
  }

  async list(filter: { task?: string } = {}): Promise<ModelView[]> {
    return (await this.registry.list(filter)).map((record) => this.view(record));
  }

  async get(name: string): Promise<ModelView> {
    return this.view(await this.registry.get(name));
  }

  /** Config changes apply to workers started afterwards; a loaded worker keeps its settings. */
  async updateConfig(name: string, config: ModelConfigPatch): Promise<ModelView> {
    const record = await this.registry.updateConfig(name, config);
    this.logger.info({ event: "model_config_changed", model: name, changes: config, config: record.config }, "model config changed");
    return this.view(record);
  }

  /**
   * Makes `version` active without failing a request. When the old version is loaded, the new one
   * is loaded first (a version that cannot load is never switched to; a memory budget too small
   * for both switches anyway, and the new one loads on first use); then requests route to it; the
   * old one is unloaded once its queued and running requests are done, in the background.
   */
  async setActiveVersion(name: string, version: string): Promise<ModelView> {
    const before = await this.registry.get(name);
    const previous = before.versions.find((candidate) => candidate.version === before.activeVersion)!;
    if (before.activeVersion === version) return this.view(await this.registry.setActiveVersion(name, version));
    const previousState = this.pool.stateOf(name, previous.version);
    if (previousState === "ready" || previousState === "loading") {
      try {
        await this.pool.load(await this.registry.resolve(name, version));
      } catch (error) {
        if (!(error instanceof ModelMoraError && error.code === "INSUFFICIENT_MEMORY")) throw error;
        this.logger.warn({ event: "version_switch_cold", model: name, version, reason: error.message }, "switching without loading the new version first");
      }
    }
    const after = await this.registry.setActiveVersion(name, version);
    this.logger.info({ event: "active_version_changed", model: name, version, previous_version: previous.version }, "active version changed");
    void this.retire(name, previous);
    return this.view(after);
  }

  /** Unloads a version that is no longer active once nothing for it is queued or running. */
  private async retire(name: string, previous: { version: string; sha256: string }): Promise<void> {
    try {
      await this.inference.whenIdle({ name, version: previous.version, sha256: previous.sha256 });
      await this.pool.unload(name, previous.version);
      this.logger.info({ event: "version_retired", model: name, version: previous.version }, "previous version unloaded after its requests finished");
    } catch (error) {
      this.logger.error({ event: "version_retire_failed", model: name, version: previous.version, error: String(error) }, "could not unload the previous version");
    }
  }

  /** Stops the model's workers, then removes its rows and unused cached files. */
  async delete(name: string): Promise<ModelView> {
    const existing = await this.registry.get(name);
    for (const version of existing.versions) this.inference.forget({ name, version: version.version, sha256: version.sha256 });
    await this.pool.unload(name);
    const record = await this.registry.delete(name);
    this.logger.info({ event: "model_deleted", model: name, versions: existing.versions.map((version) => version.version) }, "model deleted");
    return { ...record, state: "unloaded" };
  }

  /** Metadata of one version (the active one when `version` is undefined); 404s as `resolve` does. */
  async metadata(name: string, version?: string): Promise<ModelMetadata> {
    const [resolved, record] = await Promise.all([this.registry.resolve(name, version), this.registry.get(name)]);
    const others = record.versions.map((candidate) => candidate.version).filter((candidate) => candidate !== resolved.version);
    return { name, versions: [resolved.version, ...others], platform: "onnxruntime_onnx", inputs: resolved.inputs, outputs: resolved.outputs };
  }

  /**
   * KServe readiness of a model version: registered and not `unhealthy`. Models load lazily, so an
   * unloaded model is ready (its first request loads it), as a Triton model in a repository is.
   * An unknown model or version is not ready (false, not an error).
   */
  async isReady(name: string, version?: string): Promise<boolean> {
    try {
      const resolved = await this.registry.resolve(name, version);
      return this.pool.stateOf(name, resolved.version) !== "unhealthy";
    } catch (error) {
      if (error instanceof ModelMoraError && (error.code === "MODEL_NOT_FOUND" || error.code === "VERSION_NOT_FOUND")) return false;
      throw error;
    }
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

/** A source as logs may show it: passwords in URLs masked. */
function loggableSource(source: string): string {
  return source.includes("://") && !source.startsWith("file://") ? redactUrl(source) : source;
}
