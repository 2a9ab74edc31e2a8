/**
 * The one key of a model version, shared by the scheduler (its queue), the pool (its workers) and
 * shared memory (its input arena). The file's hash is part of it: a version re-registered from
 * another file gets a fresh queue and fresh workers.
 */
export interface ModelVersionIdentity {
  name: string;
  version: string;
  sha256: string;
}

/** @example modelKey({ name: "ocr-cls", version: "1", sha256: "ab…" }) // "ocr-cls@1#ab…" */
export function modelKey(target: ModelVersionIdentity): string {
  return `${target.name}@${target.version}#${target.sha256}`;
}
