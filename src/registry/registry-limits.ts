/**
 * Limits on what the catalogue holds and on registrations running at once (MODELMORA_MAX_MODELS,
 * MODELMORA_MAX_VERSIONS_PER_MODEL, MODELMORA_MAX_CONCURRENT_REGISTRATIONS). Each registration
 * downloads or copies a file and starts an inspector process, so their number is bounded; one
 * beyond the bound is refused at once with QUEUE_FULL (429 with Retry-After: a client may retry
 * shortly), rather than queued behind downloads of unknown length.
 *
 * The counts are checked before the download; registrations running at once may each pass the
 * check, so the catalogue can exceed a count limit by at most maxConcurrentRegistrations − 1.
 */
import { ModelMoraError } from "../errors.ts";
import { LIMIT_DEFAULTS, LIMIT_ENVIRONMENT_NAMES } from "../runtime/limit-settings.ts";

export interface RegistryLimitSettings {
  maxModels: number;
  maxVersionsPerModel: number;
  maxConcurrentRegistrations: number;
}

export const DEFAULT_REGISTRY_LIMITS: RegistryLimitSettings = {
  maxModels: LIMIT_DEFAULTS.maxModels,
  maxVersionsPerModel: LIMIT_DEFAULTS.maxVersionsPerModel,
  maxConcurrentRegistrations: LIMIT_DEFAULTS.maxConcurrentRegistrations,
};

export class RegistryLimits {
  private running = 0;

  constructor(readonly settings: RegistryLimitSettings = DEFAULT_REGISTRY_LIMITS) {}

  /** Takes a registration slot, or throws QUEUE_FULL when all are taken; call the result once done. */
  takeRegistrationSlot(): () => void {
    const limit = this.settings.maxConcurrentRegistrations;
    if (this.running >= limit) {
      throw new ModelMoraError("QUEUE_FULL", `${limit} registrations are already running (${LIMIT_ENVIRONMENT_NAMES.maxConcurrentRegistrations}); retry shortly`, {
        limit,
        retryAfterSeconds: 1,
      });
    }
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
    };
  }

  /** Registrations holding a slot now. */
  get runningRegistrations(): number {
    return this.running;
  }

  /** QUEUE_FULL when one more model (`modelCount` registered) or one more version of it would pass a limit. */
  checkCounts(counts: { newModel: true; modelCount: number } | { newModel: false; model: string; versionCount: number }): void {
    if (counts.newModel && counts.modelCount >= this.settings.maxModels) {
      const limit = this.settings.maxModels;
      throw new ModelMoraError("QUEUE_FULL", `the registry holds ${counts.modelCount} models, the limit (${LIMIT_ENVIRONMENT_NAMES.maxModels}) is ${limit}; delete a model first`, { limit });
    }
    if (!counts.newModel && counts.versionCount >= this.settings.maxVersionsPerModel) {
      const limit = this.settings.maxVersionsPerModel;
      throw new ModelMoraError(
        "QUEUE_FULL",
        `model "${counts.model}" has ${counts.versionCount} versions, the limit (${LIMIT_ENVIRONMENT_NAMES.maxVersionsPerModel}) is ${limit}; delete the model or register it under a new name`,
        { limit },
      );
    }
  }
}
