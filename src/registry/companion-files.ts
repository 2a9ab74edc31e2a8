/**
 * Companion files of a model version (tokenizer.json, configs, character lists): named by the
 * path they have in a Hugging Face export (`tokenizer.json`, `1_Pooling/config.json`), fetched into
 * the same content-addressed cache as the model file and verified the same way.
 */
import { invalidInput } from "../errors.ts";

/** What the registration body may say per file: a source, or a source with its expected sha256. */
export type CompanionFileSpec = string | { source: string; sha256?: string };

/** One stored companion file (the `files` column of model_versions). */
export interface StoredCompanionFile {
  source: string;
  sha256: string;
  sizeBytes: number;
  /** Path of the verified copy in the content-addressed cache. */
  localPath: string;
}

/** Relative paths of letters, digits, '.', '_', '-' and '/', with no empty, '.' or '..' segment. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;

/** Most companion files one version may have. */
export const MAX_COMPANION_FILES = 32;

/** The specs as `{ name, source, sha256? }`, names checked; INVALID_INPUT for a bad name. */
export function parseCompanionFiles(files: Record<string, CompanionFileSpec> | undefined): { name: string; source: string; sha256?: string }[] {
  const entries = Object.entries(files ?? {});
  if (entries.length > MAX_COMPANION_FILES) throw invalidInput(`files: at most ${MAX_COMPANION_FILES} companion files per version`, { field: "files" });
  return entries.map(([name, spec]) => {
    if (!FILE_NAME.test(name) || name.split("/").some((segment) => segment === ".." || segment === ".")) {
      throw invalidInput(`files["${name}"]: a file name is a relative path of letters, digits, '.', '_', '-' and '/'`, { field: `files.${name}` });
    }
    return typeof spec === "string" ? { name, source: spec } : { name, source: spec.source, ...(spec.sha256 !== undefined && { sha256: spec.sha256.toLowerCase() }) };
  });
}
