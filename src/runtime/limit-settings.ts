/**
 * The resource-limit settings of the server Config, kept here so that src/config.ts only spreads
 * them in (as src/security/settings.ts does): defaults, environment names, descriptions for
 * `modelmora init`, and their parsing from raw strings.
 *
 * Each limit trades what one caller may take against what others are left: a registry that holds
 * unboundedly many models fills the disk and the database, concurrent registrations each start an
 * inspector process, a load that never ends holds its worker and the model's queue forever.
 */
import { MAX_TIMER_MILLISECONDS } from "../clock.ts";

export interface LimitsConfig {
  /** Registered models at most; one more registration (a new name) is refused with QUEUE_FULL. */
  maxModels: number;
  /** Versions per model at most; one more is refused with QUEUE_FULL (delete old versions first). */
  maxVersionsPerModel: number;
  /**
   * Registrations (downloads, copies and inspections) running at once; more wait up to
   * REGISTRATION_WAIT_MILLISECONDS, then get 429 QUEUE_FULL with Retry-After. Each one holds a
   * download and an inspector process.
   */
  maxConcurrentRegistrations: number;
  /**
   * How long reading a model's signature at registration, or loading it into a worker (warm-up
   * included), may take; a worker still busy after it is killed and the load fails with
   * MODEL_LOAD_FAILED. Large models on slow disks need more.
   */
  loadTimeoutSeconds: number;
  /**
   * A worker still computing a batch this long after the latest deadline of the batch's requests
   * is killed and replaced; its requests get INFERENCE_TIMEOUT. Batches whose requests have no
   * deadline are never cut off.
   */
  watchdogGraceSeconds: number;
  /**
   * Address-space limit (RLIMIT_AS) of each worker process, set with util-linux `prlimit` as the
   * worker starts (Bun.spawn sets no rlimits); an allocation beyond it fails inside onnxruntime (the
   * request fails with INFERENCE_FAILED, the worker keeps serving) instead of taking the machine's
   * memory. Unset = no limit. It counts address space, not resident memory: a worker maps its two
   * shared-memory arenas (2 × shmMb) and reserves thread stacks, about 3.4 GB with the default
   * 256 MB arenas before any model runs, so set it well above that. No CPU-time limit is offered:
   * RLIMIT_CPU counts a long-lived worker's whole life; the inference watchdog bounds one batch instead.
   */
  workerMemoryLimitMb: number | undefined;
}

export const LIMIT_DEFAULTS: LimitsConfig = {
  maxModels: 1000,
  maxVersionsPerModel: 100,
  maxConcurrentRegistrations: 4,
  loadTimeoutSeconds: 300,
  watchdogGraceSeconds: 10,
  workerMemoryLimitMb: undefined,
};

export const LIMIT_ENVIRONMENT_NAMES: Record<keyof LimitsConfig, string> = {
  maxModels: "MODELMORA_MAX_MODELS",
  maxVersionsPerModel: "MODELMORA_MAX_VERSIONS_PER_MODEL",
  maxConcurrentRegistrations: "MODELMORA_MAX_CONCURRENT_REGISTRATIONS",
  loadTimeoutSeconds: "MODELMORA_LOAD_TIMEOUT_SECONDS",
  watchdogGraceSeconds: "MODELMORA_WATCHDOG_GRACE_SECONDS",
  workerMemoryLimitMb: "MODELMORA_WORKER_MEMORY_LIMIT_MB",
};

export const LIMIT_DESCRIPTIONS: Record<keyof LimitsConfig, string> = {
  maxModels: "Registered models at most; a registration beyond it gets 429 QUEUE_FULL.",
  maxVersionsPerModel: "Versions per model at most; a registration beyond it gets 429 QUEUE_FULL.",
  maxConcurrentRegistrations: "Registrations (download + inspection) running at once; more wait briefly, then get 429 QUEUE_FULL with Retry-After.",
  loadTimeoutSeconds: "Longest model inspection or load (warm-up included); a hung worker is killed and the load fails with MODEL_LOAD_FAILED.",
  watchdogGraceSeconds: "A worker still computing this long past its requests' latest deadline is killed and replaced (INFERENCE_TIMEOUT).",
  workerMemoryLimitMb: "Address-space limit (RLIMIT_AS) per worker process, via prlimit. Unset = none. A worker maps 2 × shmMb and reserves thread stacks (~3.4 GB at the defaults), so set it well above that.",
};

/** Raw string values (file, environment, flags) → typed settings; `fail` reports a bad value. */
export function resolveLimitsConfig(merged: Partial<Record<keyof LimitsConfig, string | undefined>>, fail: (message: string) => Error): LimitsConfig {
  const config = { ...LIMIT_DEFAULTS };
  for (const key of ["maxModels", "maxVersionsPerModel", "maxConcurrentRegistrations"] as const) {
    const raw = merged[key];
    if (raw === undefined) continue;
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < 1) throw fail(`${key} must be a whole number ≥ 1, got "${raw}"`);
    config[key] = value;
  }
  for (const key of ["loadTimeoutSeconds", "watchdogGraceSeconds", "workerMemoryLimitMb"] as const) {
    const raw = merged[key];
    if (raw === undefined) continue;
    const value = Number(raw);
    // Timers are clamped to 2^31−1 ms (~24.8 days) by setTimeout; a longer value would fire at once.
    if (!Number.isFinite(value) || value <= 0 || (key !== "workerMemoryLimitMb" && value * 1000 > MAX_TIMER_MILLISECONDS)) {
      throw fail(`${key} must be a positive number${key === "workerMemoryLimitMb" ? "" : ` of at most ${MAX_TIMER_MILLISECONDS / 1000} seconds`}, got "${raw}"`);
    }
    config[key] = value;
  }
  return config;
}
