/**
 * `modelmora.lock`: the models a deployment pins, written by `modelmora lock` and installed by
 * `modelmora sync`. JSON, one entry per model name (its active version), keys sorted so that the
 * file diffs well:
 *
 * ```json
 * { "lockfileVersion": 1, "generatedAt": "2025-01-01T00:00:00.000Z",
 *   "models": { "add": { "version": "1", "task": "tensor", "source": "hf://org/repo/add.onnx",
 *                        "sha256": "…64 hex…", "sizeBytes": 123, "config": { … },
 *                        "files": { "tokenizer.json": { "source": "…", "sha256": "…" } } } } }
 * ```
 * `files` (companion files, pinned by sha256 like the model file) appears only when there are any.
 */
import { readFile, writeFile } from "node:fs/promises";
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from "../registry/model-config.ts";
import type { ModelSummary } from "./catalogue.ts";
import { CliError, EXIT, usageError } from "./exit-codes.ts";

export const LOCK_FILE_NAME = "modelmora.lock";
export const LOCKFILE_VERSION = 1;

export interface LockedModel {
  version: string;
  task: string;
  source: string;
  sha256: string;
  sizeBytes: number;
  /** The model's config as registered (defaults included), so a sync reproduces it exactly. */
  config: Partial<ModelConfig>;
  /** Companion files of the version (tokenizer.json, …), each pinned by sha256; absent when none. */
  files?: Record<string, { source: string; sha256: string }>;
}

export interface LockFile {
  lockfileVersion: typeof LOCKFILE_VERSION;
  generatedAt: string;
  models: Record<string, LockedModel>;
}

/** The lock of `models`: each at its active version. */
export function lockOf(models: readonly ModelSummary[], now = new Date()): LockFile {
  const entries = [...models]
    .sort((left, right) => byCodeUnits(left.name, right.name))
    .map((model): [string, LockedModel] => {
      const active = model.versions.find((version) => version.version === model.activeVersion);
      if (!active) throw new CliError(EXIT.failed, `model "${model.name}" reports no entry for its active version ${model.activeVersion} (this is a bug)`);
      const files = Object.entries(active.files ?? {})
        .sort(([left], [right]) => byCodeUnits(left, right))
        .map(([fileName, file]) => [fileName, { source: file.source, sha256: file.sha256 }] as const);
      const entry: LockedModel = { version: active.version, task: model.task, source: active.source, sha256: active.sha256, sizeBytes: active.sizeBytes, config: sortedKeys(model.config) };
      if (files.length > 0) entry.files = Object.fromEntries(files);
      return [model.name, entry];
    });
  return { lockfileVersion: LOCKFILE_VERSION, generatedAt: now.toISOString(), models: Object.fromEntries(entries) };
}

export async function writeLockFile(filePath: string, lock: LockFile): Promise<void> {
  await writeFile(filePath, `${JSON.stringify(lock, null, 2)}\n`);
}

/** Reads and checks a lock file: missing → exit 3, malformed → exit 2, both naming the file. */
export async function readLockFile(filePath: string): Promise<LockFile> {
  let text: string;
  try {
    text = await readFile(filePath, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new CliError(EXIT.notFound, `lock file ${filePath} does not exist (write one with "modelmora lock")`, "FILE_NOT_FOUND");
    throw usageError(`cannot read lock file ${filePath}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw usageError(`lock file ${filePath} is not valid JSON: ${(error as Error).message}`);
  }
  return validateLock(parsed, filePath);
}

function validateLock(value: unknown, filePath: string): LockFile {
  const fail = (problem: string) => usageError(`lock file ${filePath}: ${problem}`);
  if (!isObject(value)) throw fail("must hold a JSON object");
  if (value.lockfileVersion !== LOCKFILE_VERSION) throw fail(`lockfileVersion must be ${LOCKFILE_VERSION}, got ${JSON.stringify(value.lockfileVersion)}`);
  if (typeof value.generatedAt !== "string") throw fail("generatedAt must be a string");
  if (!isObject(value.models)) throw fail("models must be an object keyed by model name");
  for (const [name, entry] of Object.entries(value.models)) {
    if (!isObject(entry)) throw fail(`models.${name} must be an object`);
    for (const key of ["version", "task", "source"] as const) {
      if (typeof entry[key] !== "string" || entry[key] === "") throw fail(`models.${name}.${key} must be a non-empty string`);
    }
    if (typeof entry.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(entry.sha256)) throw fail(`models.${name}.sha256 must be 64 lowercase hex digits`);
    if (typeof entry.sizeBytes !== "number" || !Number.isInteger(entry.sizeBytes) || entry.sizeBytes < 0) throw fail(`models.${name}.sizeBytes must be a whole number`);
    if (entry.config !== undefined && !isObject(entry.config)) throw fail(`models.${name}.config must be an object`);
    const unknown = Object.keys(entry.config ?? {}).filter((key) => !Object.hasOwn(DEFAULT_MODEL_CONFIG, key));
    if (unknown.length) throw fail(`models.${name}.config has unknown keys: ${unknown.join(", ")}`);
    if (entry.files !== undefined) {
      if (!isObject(entry.files)) throw fail(`models.${name}.files must be an object keyed by file name`);
      for (const [fileName, file] of Object.entries(entry.files)) {
        if (!isObject(file) || typeof file.source !== "string" || file.source === "") throw fail(`models.${name}.files["${fileName}"].source must be a non-empty string`);
        if (typeof file.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(file.sha256)) throw fail(`models.${name}.files["${fileName}"].sha256 must be 64 lowercase hex digits`);
      }
    }
  }
  return value as unknown as LockFile;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function sortedKeys<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).sort(([left], [right]) => byCodeUnits(left, right))) as T;
}

/** Locale-independent order, so a lock file is byte-identical wherever it is written. */
export function byCodeUnits(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}
