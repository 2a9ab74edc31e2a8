/**
 * The registry's failures: unknown models and versions, duplicates (also when the database's unique
 * constraint is what notices), and model files that are not self-contained.
 */
import { ModelMoraError } from "../errors.ts";
import { MalformedModelError, externalDataLocations } from "../security/external-data.ts";

/** PostgreSQL's unique_violation, and SQLite's primary-key and unique constraint failures. */
const UNIQUE_VIOLATIONS = new Set(["23505", "SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"]);

export function isUniqueViolation(error: unknown): boolean {
  for (let cause: unknown = error; cause; cause = (cause as { cause?: unknown }).cause) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && UNIQUE_VIOLATIONS.has(code)) return true;
  }
  return false;
}

export function modelNotFound(name: string): ModelMoraError {
  return new ModelMoraError("MODEL_NOT_FOUND", `model "${name}" is not registered`, { name });
}

export function versionNotFound(name: string, version: string): ModelMoraError {
  return new ModelMoraError("VERSION_NOT_FOUND", `model "${name}" has no version "${version}"`, { name, version });
}

export function alreadyExists(name: string, version: string): ModelMoraError {
  return new ModelMoraError("MODEL_ALREADY_EXISTS", `model "${name}" version "${version}" is already registered`, { name, version });
}

/** MODEL_LOAD_FAILED for a model that keeps tensor data in other files (see src/security/external-data.ts). */
export async function refuseExternalData(filePath: string): Promise<void> {
  let locations: string[];
  try {
    locations = Bun.file(filePath).size === 0 ? [] : externalDataLocations(Bun.mmap(filePath, { shared: false }));
  } catch (error) {
    if (error instanceof MalformedModelError) throw new ModelMoraError("MODEL_LOAD_FAILED", `model file is not a valid ONNX file: ${error.message}`);
    throw error;
  }
  if (locations.length > 0) {
    throw new ModelMoraError("MODEL_LOAD_FAILED", "model declares external data; only self-contained ONNX files (all tensors inside the one file) are accepted", {
      externalTensors: locations.length,
    });
  }
}
