/**
 * What the registry answers: a model with its versions (`ModelRecord`), one version resolved for
 * serving (`ResolvedVersion`), and what a registration asks for (`RegisterModelInput`); and how a
 * stored row becomes a record.
 */
import { ModelMoraError } from "../errors.ts";
import type { CompanionFileSpec } from "./companion-files.ts";
import { type ModelConfig, withDefaults } from "./model-config.ts";
import type { ModelRow, ModelVersionRow } from "./schema/index.ts";
import type { TensorSpec } from "./tensor-spec.ts";

export interface RegisterModelInput {
  name: string;
  version: string;
  task: string;
  source: string;
  sha256?: string;
  config?: Partial<ModelConfig>;
  /** Companion files by name: `{ "tokenizer.json": "<source>" | { source, sha256 } }`. */
  files?: Record<string, CompanionFileSpec>;
}

/** A companion file as the model object shows it. */
export interface CompanionFileRecord {
  source: string;
  sha256: string;
  sizeBytes: number;
}

export interface VersionRecord {
  version: string;
  sha256: string;
  sizeBytes: number;
  source: string;
  files: Record<string, CompanionFileRecord>;
  createdAt: string;
}

export interface ModelRecord {
  name: string;
  task: string;
  activeVersion: string;
  versions: VersionRecord[];
  config: ModelConfig;
  /** Signature of the active version. */
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  createdAt: string;
  updatedAt: string;
}

/** One model version, resolved for serving. */
export interface ResolvedVersion {
  name: string;
  task: string;
  version: string;
  modelPath: string;
  sha256: string;
  sizeBytes: number;
  config: ModelConfig;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Companion files by name: where the verified copy lies and its sha256. */
  files: Record<string, { path: string; sha256: string }>;
}

/** A model row and its version rows as the record list and get answer. */
export function toRecord(row: ModelRow, versions: ModelVersionRow[]): ModelRecord {
  const active = versions.find((version) => version.version === row.activeVersion);
  if (!active) throw new ModelMoraError("INTERNAL", `model "${row.name}" has no row for its active version ${row.activeVersion} (this is a bug)`);
  return {
    name: row.name,
    task: row.task,
    activeVersion: row.activeVersion,
    versions: versions.map((version) => ({
      version: version.version,
      sha256: version.sha256,
      sizeBytes: version.sizeBytes,
      source: version.source,
      files: Object.fromEntries(Object.entries(version.files).map(([name, file]) => [name, { source: file.source, sha256: file.sha256, sizeBytes: file.sizeBytes }])),
      createdAt: version.createdAt.toISOString(),
    })),
    config: withDefaults(row.config),
    inputs: active.inputs,
    outputs: active.outputs,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
