/**
 * The model catalogue: models and their versions, stored with Drizzle, files in the
 * content-addressed cache. It knows nothing of workers; reading a model's signature is injected
 * (`inspectModel`), so the registry can be tested on its own.
 */
import { and, asc, eq } from "drizzle-orm";
import { invalidInput } from "../errors.ts";
import { stripCredentials } from "../security/source-policy.ts";
import { parseCompanionFiles, type StoredCompanionFile } from "./companion-files.ts";
import type { OpenDatabase } from "./database.ts";
import type { ModelCache } from "./model-cache.ts";
import { type ModelConfigPatch, withDefaults } from "./model-config.ts";
import { type ModelRecord, type RegisterModelInput, type ResolvedVersion, toRecord } from "./records.ts";
import { alreadyExists, isUniqueViolation, modelNotFound, refuseExternalData, versionNotFound } from "./registry-errors.ts";
import type { ModelRow, ModelVersionRow } from "./schema/index.ts";
import { checkConfigBounds } from "./config-bounds.ts";
import { RegistryLimits } from "./registry-limits.ts";
import type { InspectModel } from "./signature.ts";
import { canonicalTask } from "./tasks.ts";
import { expandRepository, isRepositorySource } from "./hub-repository.ts";

export type { CompanionFileRecord, ModelRecord, RegisterModelInput, ResolvedVersion, VersionRecord } from "./records.ts";
export { TASK_ALIASES, TASKS, canonicalTask } from "./tasks.ts";

/**
 * How long a resolved model version is served from memory. Writes through this registry clear the
 * cache at once; other servers sharing the database see a change within this bound.
 */
export const RESOLVE_CACHE_MILLISECONDS = 2000;

/** The PostgreSQL NOTIFY channel registry writes are announced on. */
const REGISTRY_CHANNEL = "modelmora_registry";

export class ModelRegistry {
  private readonly resolved = new Map<string, { value: Promise<ResolvedVersion>; expiresAt: number }>();

  private readonly db: OpenDatabase["db"];
  private readonly tables: OpenDatabase["tables"];

  constructor(
    private readonly database: OpenDatabase,
    private readonly cache: ModelCache,
    private readonly inspectModel: InspectModel,
    private readonly limits = new RegistryLimits(),
  ) {
    this.db = database.db;
    this.tables = database.tables;
  }

  /**
   * Other replicas on the same PostgreSQL tell this one when they change the registry (LISTEN/NOTIFY),
   * so it forgets cached resolutions at once instead of after RESOLVE_CACHE_MILLISECONDS (which stays
   * the fallback, e.g. while the listening connection reconnects). Nothing to do on SQLite.
   */
  async followChanges(): Promise<void> {
    await this.database.listen?.(REGISTRY_CHANNEL, () => this.resolved.clear());
  }

  /** After a write: forget resolutions here, and tell other replicas to. */
  private changed(): void {
    this.resolved.clear();
    void this.database.notify?.(REGISTRY_CHANNEL).catch(() => undefined);
  }

  /**
   * Copies the source into the cache (verifying `sha256` when given; skipped when a file with that
   * sha256 is already cached), reads the model's signature,
   * and stores the model (first version) or a further version. Nothing is stored on any failure.
   * QUEUE_FULL beyond the registry limits (registry-limits.ts); INVALID_INPUT for a config out of
   * bounds (config-bounds.ts).
   */
  async register(registration: RegisterModelInput): Promise<ModelRecord> {
    if (registration.config) checkConfigBounds(registration.config);
    const release = this.limits.takeRegistrationSlot();
    try {
      return await this.registerWithinLimits(registration);
    } finally {
      release();
    }
  }

  private async registerWithinLimits(registration: RegisterModelInput): Promise<ModelRecord> {
    this.resolved.clear();
    const task = canonicalTask(registration.task);
    // A whole repository (hf://org/repo[@rev]) stands for its ONNX export's files.
    const input = isRepositorySource(registration.source)
      ? { ...registration, ...(await expandRepository(registration.source, registration.files, (source) => this.cache.exists(source))) }
      : registration;
    const companions = parseCompanionFiles(input.files);
    const existing = await this.findModel(input.name);
    if (existing && existing.task !== task) {
      throw invalidInput(`model "${input.name}" has task "${existing.task}"; a new version cannot change it to "${task}"`, { field: "task" });
    }
    if (existing && (await this.findVersion(input.name, input.version))) throw alreadyExists(input.name, input.version);
    await this.checkCounts(input.name, existing !== undefined);

    // With a known sha256 already in the cache, nothing is downloaded.
    const cached = await this.cache.fetch(input.source, input.sha256);
    const fetched: string[] = [cached.sha256];
    const files: Record<string, StoredCompanionFile> = {};
    let signature;
    try {
      for (const companion of companions) {
        const file = await this.cache.fetch(companion.source, companion.sha256);
        fetched.push(file.sha256);
        files[companion.name] = { source: stripCredentials(companion.source), sha256: file.sha256, sizeBytes: file.sizeBytes, localPath: file.path };
      }
      await refuseExternalData(cached.path);
      signature = await this.inspectModel(await this.cache.isolatedPath(cached.sha256));
    } catch (error) {
      for (const sha256 of fetched) await this.removeFileIfUnused(sha256);
      throw error;
    }

    try {
      const { models, modelVersions } = this.tables;
      await this.database.atomically((transaction) => [
        transaction.insert(models).values({ name: input.name, task, activeVersion: input.version, config: input.config ?? {} }).onConflictDoNothing(),
        ...(existing && input.config
          ? [transaction.update(models).set({ config: { ...existing.config, ...input.config }, updatedAt: new Date() }).where(eq(models.name, input.name))]
          : []),
        transaction.insert(modelVersions).values({
          modelName: input.name,
          version: input.version,
          source: stripCredentials(input.source),
          sha256: cached.sha256,
          sizeBytes: cached.sizeBytes,
          localPath: cached.path,
          inputs: signature.inputs,
          outputs: signature.outputs,
          files,
        }),
      ]);
    } catch (error) {
      for (const sha256 of fetched) await this.removeFileIfUnused(sha256);
      if (isUniqueViolation(error)) throw alreadyExists(input.name, input.version);
      throw error;
    }
    this.changed();
    return this.get(input.name);
  }

  async list(filter: { task?: string } = {}): Promise<ModelRecord[]> {
    const { models, modelVersions } = this.tables;
    const rows = await this.db
      .select()
      .from(models)
      .where(filter.task ? eq(models.task, filter.task) : undefined)
      .orderBy(asc(models.name));
    const versions = await this.db.select().from(modelVersions).orderBy(asc(modelVersions.createdAt));
    return rows.map((row) => toRecord(row, versions.filter((version) => version.modelName === row.name)));
  }

  /** The model with all its versions; MODEL_NOT_FOUND if unknown. */
  async get(name: string): Promise<ModelRecord> {
    const row = await this.findModel(name);
    if (!row) throw modelNotFound(name);
    const { modelVersions } = this.tables;
    const versions = await this.db.select().from(modelVersions).where(eq(modelVersions.modelName, name)).orderBy(asc(modelVersions.createdAt));
    return toRecord(row, versions);
  }

  /**
   * The version to serve: the named one, or the active one. On the request path, so answers are
   * cached for RESOLVE_CACHE_MILLISECONDS (failures are not cached).
   */
  resolve(name: string, version?: string): Promise<ResolvedVersion> {
    const key = `${name}\u0000${version ?? ""}`;
    const now = performance.now();
    const cached = this.resolved.get(key);
    if (cached && cached.expiresAt > now) return cached.value;
    const value = this.resolveFromDatabase(name, version);
    this.resolved.set(key, { value, expiresAt: now + RESOLVE_CACHE_MILLISECONDS });
    value.catch(() => this.resolved.delete(key));
    return value;
  }

  private async resolveFromDatabase(name: string, version?: string): Promise<ResolvedVersion> {
    const row = await this.findModel(name);
    if (!row) throw modelNotFound(name);
    const versionRow = await this.findVersion(name, version ?? row.activeVersion);
    if (!versionRow) throw versionNotFound(name, version ?? row.activeVersion);
    // Fetch-on-miss: a replica with its own cache volume fetches (and verifies) what another registered.
    const [, ...companionPaths] = await Promise.all([this.cache.ensure(versionRow.source, versionRow.sha256), ...Object.values(versionRow.files).map((file) => this.cache.ensure(file.source, file.sha256))]);
    const companionNames = Object.keys(versionRow.files);
    return {
      name,
      task: row.task,
      version: versionRow.version,
      // Opened from its own directory (model-cache.ts isolatedPath), never from the shared cache.
      modelPath: await this.cache.isolatedPath(versionRow.sha256),
      sha256: versionRow.sha256,
      sizeBytes: versionRow.sizeBytes,
      config: withDefaults(row.config),
      inputs: versionRow.inputs,
      outputs: versionRow.outputs,
      files: Object.fromEntries(companionNames.map((name, index) => [name, { path: companionPaths[index]!, sha256: versionRow.files[name]!.sha256 }])),
    };
  }

  /** Merges `config` into the stored config (a key set to null returns to its default). */
  async updateConfig(name: string, config: ModelConfigPatch): Promise<ModelRecord> {
    this.resolved.clear();
    const row = await this.findModel(name);
    if (!row) throw modelNotFound(name);
    const merged = Object.fromEntries(Object.entries({ ...row.config, ...config }).filter(([, value]) => value !== null));
    checkConfigBounds(merged);
    const { models } = this.tables;
    await this.db.update(models).set({ config: merged, updatedAt: new Date() }).where(eq(models.name, name));
    this.changed();
    return this.get(name);
  }

  async setActiveVersion(name: string, version: string): Promise<ModelRecord> {
    this.resolved.clear();
    const row = await this.findModel(name);
    if (!row) throw modelNotFound(name);
    if (!(await this.findVersion(name, version))) throw versionNotFound(name, version);
    const { models } = this.tables;
    await this.db.update(models).set({ activeVersion: version, updatedAt: new Date() }).where(eq(models.name, name));
    this.changed();
    return this.get(name);
  }

  /** Removes the model, its versions, and cached files that no other version uses. */
  async delete(name: string): Promise<ModelRecord> {
    this.resolved.clear();
    const record = await this.get(name);
    const { models } = this.tables;
    await this.db.delete(models).where(eq(models.name, name));
    this.changed();
    for (const version of record.versions) {
      await this.removeFileIfUnused(version.sha256);
      for (const file of Object.values(version.files)) await this.removeFileIfUnused(file.sha256);
    }
    return record;
  }

  private async checkCounts(name: string, modelExists: boolean): Promise<void> {
    const { models, modelVersions } = this.tables;
    if (!modelExists) {
      const rows = await this.db.select({ name: models.name }).from(models);
      this.limits.checkCounts({ newModel: true, modelCount: rows.length });
      return;
    }
    const rows = await this.db.select({ version: modelVersions.version }).from(modelVersions).where(eq(modelVersions.modelName, name));
    this.limits.checkCounts({ newModel: false, model: name, versionCount: rows.length });
  }

  private async findModel(name: string): Promise<ModelRow | undefined> {
    const { models } = this.tables;
    const [row] = await this.db.select().from(models).where(eq(models.name, name));
    return row;
  }

  private async findVersion(name: string, version: string): Promise<ModelVersionRow | undefined> {
    const { modelVersions } = this.tables;
    const [row] = await this.db
      .select()
      .from(modelVersions)
      .where(and(eq(modelVersions.modelName, name), eq(modelVersions.version, version)));
    return row;
  }

  /** Removes a cached file no version uses, as its model file or as a companion file. */
  private async removeFileIfUnused(sha256: string): Promise<void> {
    const { modelVersions } = this.tables;
    const [user] = await this.db.select({ name: modelVersions.modelName }).from(modelVersions).where(eq(modelVersions.sha256, sha256)).limit(1);
    if (user) return;
    // Companion files sit in a JSON column: scanned here, which is fine for a catalogue's size.
    const companions = await this.db.select({ files: modelVersions.files }).from(modelVersions);
    if (companions.some((row) => Object.values(row.files).some((file) => file.sha256 === sha256))) return;
    await this.cache.remove(sha256);
  }
}
