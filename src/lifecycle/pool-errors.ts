/** The domain errors the pool raises itself (a worker's own failures come from worker-process.ts). */
import { ModelMoraError } from "../errors.ts";
import type { LoadTarget } from "./model-ref.ts";

export function insufficientMemory(target: LoadTarget, reason: string): ModelMoraError {
  return new ModelMoraError("INSUFFICIENT_MEMORY", `cannot load model "${target.name}" version ${target.version}: ${reason}`, {
    name: target.name,
    version: target.version,
  });
}

export function unhealthyModel(target: LoadTarget, lastError: string | undefined): ModelMoraError {
  return new ModelMoraError("UNHEALTHY_MODEL", `model "${target.name}" version ${target.version} is unhealthy: ${lastError}`, {
    name: target.name,
    version: target.version,
  });
}

export function shuttingDown(): ModelMoraError {
  return new ModelMoraError("SHUTTING_DOWN", "server is shutting down");
}
