/**
 * A whole Hugging Face repository as a source: `hf://org/repo[@revision]` with no file path installs
 * the usual ONNX export layout (what `optimum-cli export onnx` and sentence-transformers publish): the
 * model from `onnx/model.onnx`, else `model.onnx`, and, as companion files, whichever of
 * tokenizer.json, tokenizer_config.json, config.json, preprocessor_config.json and
 * 1_Pooling/config.json the repository has. The registration is rewritten to those file sources
 * before anything is fetched, so the stored version (and `modelmora.lock`) pins each file.
 */
import { ModelMoraError } from "../errors.ts";
import type { CompanionFileSpec } from "./companion-files.ts";

/** Where the model file of an ONNX export lies, in the order tried. */
export const EXPORT_MODEL_PATHS = ["onnx/model.onnx", "model.onnx"];

/** Companion files of an ONNX export, installed when present. */
export const EXPORT_COMPANION_PATHS = ["tokenizer.json", "tokenizer_config.json", "config.json", "preprocessor_config.json", "1_Pooling/config.json"];

const REPOSITORY = /^hf:\/\/([^/@]+)\/([^/@]+)(@[^/]+)?\/?$/;

/** True for `hf://org/repo` and `hf://org/repo@revision` (no file path). */
export function isRepositorySource(source: string): boolean {
  return REPOSITORY.test(source);
}

/**
 * The model source and companion files a repository source stands for; `exists` asks whether a file
 * source is there (false for a 404). Companion files the caller named explicitly win.
 *
 * @example
 * await expandRepository("hf://sentence-transformers/all-MiniLM-L6-v2", {}, (source) => cache.exists(source));
 * // { source: "hf://…/onnx/model.onnx", files: { "tokenizer.json": "hf://…/tokenizer.json", … } }
 */
export async function expandRepository(
  source: string,
  files: Record<string, CompanionFileSpec> | undefined,
  exists: (source: string) => Promise<boolean>,
): Promise<{ source: string; files: Record<string, CompanionFileSpec> }> {
  const base = source.replace(/\/$/, "");
  let model: string | undefined;
  for (const candidate of EXPORT_MODEL_PATHS) {
    if (await exists(`${base}/${candidate}`)) {
      model = `${base}/${candidate}`;
      break;
    }
  }
  if (!model) {
    throw new ModelMoraError("SOURCE_UNAVAILABLE", `repository ${source} has neither ${EXPORT_MODEL_PATHS.join(" nor ")}; name the model file (hf://org/repo[@revision]/path/model.onnx)`, { field: "source" });
  }
  const found = await Promise.all(EXPORT_COMPANION_PATHS.map(async (name) => ((await exists(`${base}/${name}`)) ? name : undefined)));
  const discovered = Object.fromEntries(found.filter((name): name is string => name !== undefined).map((name) => [name, `${base}/${name}`]));
  return { source: model, files: { ...discovered, ...files } };
}
