/**
 * Making one model version present, the way `install` and `sync` both need it: nothing is
 * fetched when the version is already registered with the wanted checksum (or, without a
 * checksum, from the same source); a registered version with another checksum is an error, never
 * silently replaced; the version is made active unless asked not to; the config is brought in line.
 */
import type { ModelConfig, ModelConfigPatch } from "../registry/model-config.ts";
import { withDefaults } from "../registry/model-config.ts";
import type { RegisterModelInput } from "../registry/registry.ts";
import type { Catalogue, ModelSummary } from "./catalogue.ts";
import { CliError, EXIT } from "./exit-codes.ts";

/** A version the CLI wants installed: exactly what registration takes. */
export type WantedVersion = RegisterModelInput;

export interface EnsureOptions {
  /** Make this version the model's active one (when the model has others). */
  activate: boolean;
  /**
   * `exact`: the model's config becomes `wanted.config` (keys it lacks return to their defaults),
   * as a lock file demands. `merge`: only the keys given change.
   */
  config: "exact" | "merge";
}

/** `installed`: registered now; `present`: already registered, nothing fetched. */
export type InstallAction = "installed" | "present";

export interface InstallOutcome {
  action: InstallAction;
  /** The version was registered but another was active; it is active now. */
  activated: boolean;
  configUpdated: boolean;
  model: ModelSummary;
}

export async function ensureInstalled(catalogue: Catalogue, wanted: WantedVersion, options: EnsureOptions): Promise<InstallOutcome> {
  const existing = await catalogue.find(wanted.name);
  const registered = existing?.versions.find((version) => version.version === wanted.version);
  let model: ModelSummary;
  let action: InstallAction;
  if (registered && existing) {
    if (wanted.sha256 !== undefined && registered.sha256 !== wanted.sha256.toLowerCase()) {
      throw new CliError(
        EXIT.failed,
        `model "${wanted.name}" version "${wanted.version}" is installed with sha256 ${registered.sha256}, not the ${wanted.sha256.toLowerCase()} asked for; uninstall it first or use another version`,
        "CHECKSUM_MISMATCH",
        { expected: wanted.sha256.toLowerCase(), actual: registered.sha256 },
      );
    }
    if (wanted.sha256 === undefined && registered.source !== wanted.source) {
      throw new CliError(
        EXIT.failed,
        `model "${wanted.name}" version "${wanted.version}" is already installed from ${registered.source}; uninstall it first, use another --version, or pass --sha256 ${registered.sha256} if this is the same file`,
        "MODEL_ALREADY_EXISTS",
      );
    }
    for (const [fileName, spec] of Object.entries(wanted.files ?? {})) {
      const pinned = typeof spec === "string" ? undefined : spec.sha256?.toLowerCase();
      const present = registered.files[fileName];
      if (pinned !== undefined && present?.sha256 !== pinned) {
        throw new CliError(
          EXIT.failed,
          `model "${wanted.name}" version "${wanted.version}" is installed ${present ? `with ${fileName} sha256 ${present.sha256}` : `without ${fileName}`}, not the ${pinned} asked for; uninstall it first or use another version`,
          "CHECKSUM_MISMATCH",
          { file: fileName, expected: pinned, actual: present?.sha256 ?? null },
        );
      }
    }
    if (existing.task !== wanted.task) {
      throw new CliError(EXIT.failed, `model "${wanted.name}" has task "${existing.task}", not "${wanted.task}"`, "INVALID_INPUT");
    }
    model = existing;
    action = "present";
  } else {
    model = await catalogue.register({
      name: wanted.name,
      version: wanted.version,
      task: wanted.task,
      source: wanted.source,
      ...(wanted.sha256 !== undefined && { sha256: wanted.sha256.toLowerCase() }),
      ...(wanted.config !== undefined && { config: wanted.config }),
      ...(wanted.files !== undefined && { files: wanted.files }),
    });
    action = "installed";
  }
  let activated = false;
  if (options.activate && model.activeVersion !== wanted.version) {
    model = await catalogue.activate(wanted.name, wanted.version);
    activated = true;
  }
  let configUpdated = false;
  if (wanted.config !== undefined) {
    const patch = configPatch(model.config, wanted.config, options.config);
    if (Object.keys(patch).length > 0) {
      model = await catalogue.updateConfig(wanted.name, patch);
      configUpdated = true;
    }
  }
  return { action, activated, configUpdated, model };
}

/** The update that turns `current` into what is wanted; empty when nothing differs. */
export function configPatch(current: Partial<ModelConfig>, wanted: Partial<ModelConfig>, mode: "exact" | "merge"): ModelConfigPatch {
  const target: Partial<ModelConfig> = mode === "exact" ? withDefaults(wanted) : { ...current, ...wanted };
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(current), ...Object.keys(target)]) as Set<keyof ModelConfig>) {
    const want = target[key];
    if (!Bun.deepEquals(current[key], want)) patch[key] = want ?? null;
  }
  return patch as ModelConfigPatch;
}
