/**
 * Admission under the memory budget and the loaded-models cap: which idle models to evict so that
 * one more fits. A pure function of what is resident; the pool measures, decides with this, and acts.
 *
 * Rules (ollama's scheduler works the same way):
 * - only idle models are evicted (nothing in flight, not loading), least recently used first;
 * - a model bigger than the whole budget can never fit: rejected outright;
 * - when evicting every idle model would still not make room, the caller waits for busy ones.
 */

/** One model version holding (or about to hold) memory. */
export interface ResidentModel {
  key: string;
  /** Measured RSS of its workers, or the estimate while it loads. */
  footprintBytes: number;
  /** Loading, or running work: never evicted. */
  busy: boolean;
  /** For LRU order (milliseconds since the epoch). */
  lastUsedAtMilliseconds: number;
}

export interface AdmissionLimits {
  /** Budget for all models' workers together; undefined = unbounded. */
  memoryLimitBytes: number | undefined;
  /** Cap on model versions loaded at once; undefined = unbounded. */
  maxLoadedModels: number | undefined;
}

export type AdmissionPlan =
  /** Fits once the listed models are evicted (maybe none). */
  | { kind: "admit"; evict: string[] }
  /** Would fit after busy models go idle. */
  | { kind: "wait"; reason: string }
  /** Can never fit. */
  | { kind: "reject"; reason: string };

/** `reservedBytes` is memory the budget holds for something other than models (standby workers). */
export function planAdmission(resident: readonly ResidentModel[], incomingBytes: number, limits: AdmissionLimits, reservedBytes = 0): AdmissionPlan {
  const { memoryLimitBytes, maxLoadedModels } = limits;
  if (memoryLimitBytes !== undefined && incomingBytes > memoryLimitBytes) {
    return { kind: "reject", reason: `the model needs about ${megabytes(incomingBytes)} MB but the memory limit is ${megabytes(memoryLimitBytes)} MB` };
  }
  let usedBytes = resident.reduce((total, model) => total + model.footprintBytes, reservedBytes);
  let loaded = resident.length;
  const overBudget = () => memoryLimitBytes !== undefined && usedBytes + incomingBytes > memoryLimitBytes;
  const overCount = () => maxLoadedModels !== undefined && loaded + 1 > maxLoadedModels;
  const idleOldestFirst = resident.filter((model) => !model.busy).sort((left, right) => left.lastUsedAtMilliseconds - right.lastUsedAtMilliseconds);
  const evict: string[] = [];
  for (const candidate of idleOldestFirst) {
    if (!overBudget() && !overCount()) break;
    evict.push(candidate.key);
    usedBytes -= candidate.footprintBytes;
    loaded--;
  }
  if (overCount()) return { kind: "wait", reason: `${maxLoadedModels} models are loaded (the cap) and all of them are busy` };
  if (overBudget()) {
    return {
      kind: "wait",
      reason: `the model needs about ${megabytes(incomingBytes)} MB; ${megabytes(usedBytes)} MB of the ${megabytes(memoryLimitBytes!)} MB limit is held by busy models`,
    };
  }
  return { kind: "admit", evict };
}

function megabytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
