/**
 * `modelmora install <source>`: download (or copy), verify and register a model version, on a
 * running server or offline on a data directory. Installing what is already installed is a no-op
 * that fetches nothing; with `--sha256` of a file already in the cache, nothing is fetched either.
 */
import path from "node:path";
import { TASKS } from "../../registry/registry.ts";
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from "../../registry/model-config.ts";
import { booleanFlag, stringFlag } from "../arguments.ts";
import type { Command } from "../command.ts";
import { CATALOGUE_FLAGS, openCatalogue } from "../connect.ts";
import { EXIT, usageError } from "../exit-codes.ts";
import { ensureInstalled } from "../install-plan.ts";
import { formatBytes, json, keyValues } from "../output.ts";

/** Model names and versions the REST API accepts (src/api/rest/schemas.ts); checked here too so offline installs match. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DEFAULT_VERSION = "1";

export const installCommand: Command = {
  spec: {
    name: "install",
    summary: "Download (or copy), verify and register a model version.",
    positionals: [{ name: "source", description: "a path, file:///abs/path, http(s):// URL, or hf://<org>/<repo>[@revision]/<path>" }],
    flags: [
      { flag: "--name", value: "NAME", description: "model name (default: the file name without .onnx)" },
      { flag: "--version", value: "VERSION", description: `version to register (default ${DEFAULT_VERSION})` },
      { flag: "--task", value: "TASK", description: `task (default ${TASKS[0]}; one of ${TASKS.join(", ")})` },
      { flag: "--sha256", value: "HEX", description: "expected sha256: verified after download; a cached file with it is reused without fetching" },
      { flag: "--model-config", value: "JSON", description: `per-model config, e.g. '{"maxBatchSize":8}' (keys as in the README's Model config)` },
      { flag: "--keep-active", description: "register the version without making it the active one" },
      ...CATALOGUE_FLAGS,
    ],
    notes: `Relative paths are made absolute here. On a server, a path is read on the server's machine, and
the server downloads URLs itself (HF_ENDPOINT and HF_TOKEN are the server's). Offline (--data-dir),
this process downloads, with a progress bar on a terminal, using this environment's HF_ENDPOINT and HF_TOKEN.
Installing a name and version that is already installed from the same source (or with the same
--sha256) does nothing and exits 0; with another source or checksum it fails (exit 1).`,
  },
  async run(args, { io, json: asJson }) {
    const source = absoluteSource(args.positionals[0]!, io.cwd);
    const name = stringFlag(args, "--name") ?? nameFromSource(source);
    const version = stringFlag(args, "--version") ?? DEFAULT_VERSION;
    const task = stringFlag(args, "--task") ?? TASKS[0];
    const sha256 = stringFlag(args, "--sha256");
    if (!NAME_PATTERN.test(name)) throw usageError(`model name "${name}" must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    if (!NAME_PATTERN.test(version)) throw usageError(`version "${version}" must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    if (!(TASKS as readonly string[]).includes(task)) throw usageError(`task "${task}" is not supported; supported tasks: ${TASKS.join(", ")}`);
    if (sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(sha256)) throw usageError("--sha256 must be 64 hex digits");
    const config = parseModelConfig(stringFlag(args, "--model-config"));

    const catalogue = await openCatalogue(args, io);
    try {
      const outcome = await ensureInstalled(
        catalogue,
        { name, version, task, source, sha256, config },
        { activate: !booleanFlag(args, "--keep-active"), config: "merge" },
      );
      if (asJson) {
        io.stdout(json(outcome));
        return EXIT.ok;
      }
      const installed = outcome.model.versions.find((candidate) => candidate.version === version)!;
      const said = outcome.action === "installed" ? "installed" : "already installed (nothing fetched)";
      io.stdout(
        keyValues([
          ["model", `${name} ${version}: ${said}`],
          ["task", outcome.model.task],
          ["active", outcome.model.activeVersion],
          ["sha256", installed.sha256],
          ["size", formatBytes(installed.sizeBytes)],
          ["source", installed.source],
          ["where", catalogue.where],
        ]),
      );
      return EXIT.ok;
    } finally {
      await catalogue.close();
    }
  },
};

/** Paths are taken relative to the working directory; URLs and absolute paths pass as they are. */
export function absoluteSource(source: string, cwd: string): string {
  if (/^(file|https?|hf):\/\//.test(source) || path.isAbsolute(source)) return source;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) throw usageError(`source "${source}" has an unsupported scheme; use a path, file://, http(s):// or hf://`);
  return path.resolve(cwd, source);
}

/** `…/onnx/model-int8.onnx` → `model-int8`; characters a name may not hold become '-'. */
export function nameFromSource(source: string): string {
  const withoutQuery = source.replace(/[?#].*$/, "");
  const base = withoutQuery.split("/").filter(Boolean).pop() ?? "";
  const name = base.replace(/\.onnx$/i, "").replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  if (!name) throw usageError(`cannot derive a model name from "${source}"; pass --name`);
  return name.slice(0, 128);
}

function parseModelConfig(raw: string | undefined): Partial<ModelConfig> | undefined {
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw usageError(`--model-config is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw usageError("--model-config must be a JSON object");
  const unknown = Object.keys(parsed).filter((key) => !Object.hasOwn(DEFAULT_MODEL_CONFIG, key));
  if (unknown.length) throw usageError(`--model-config has unknown keys: ${unknown.join(", ")}; known: ${Object.keys(DEFAULT_MODEL_CONFIG).join(", ")}`);
  return parsed as Partial<ModelConfig>;
}
