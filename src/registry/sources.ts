/**
 * Model sources: an absolute path or `file://` URL, an `http(s)://` URL, or
 * `hf://<org>/<repo>[@revision]/<path>` (the Hugging Face Hub's `resolve` layout, honouring
 * `HF_ENDPOINT` for mirrors and `HF_TOKEN` for private repositories).
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ModelMoraError, invalidInput } from "../errors.ts";

/** Reads `HF_ENDPOINT` and `HF_TOKEN`. */
export type SourceEnvironment = Record<string, string | undefined>;

export type ParsedSource = { kind: "file"; path: string } | { kind: "http"; url: string; headers: Record<string, string> };

export function parseSource(source: string, environment: SourceEnvironment = process.env): ParsedSource {
  if (source.startsWith("file://")) return { kind: "file", path: fileUrlPath(source) };
  if (source.startsWith("http://") || source.startsWith("https://")) return { kind: "http", url: source, headers: {} };
  if (source.startsWith("hf://")) return parseHuggingFace(source, environment);
  if (path.isAbsolute(source)) return { kind: "file", path: source };
  throw invalidInput(`source must be an absolute path, file://, http(s):// or hf:// URL, got "${source}"`, { field: "source" });
}

/** `file://models/a.onnx` (a host, i.e. a relative path in disguise) is the caller's mistake, not a 500. */
function fileUrlPath(source: string): string {
  try {
    return fileURLToPath(source);
  } catch (error) {
    throw invalidInput(`source "${source}" is not a usable file URL (write file:///absolute/path): ${error instanceof Error ? error.message : String(error)}`, { field: "source" });
  }
}

function parseHuggingFace(source: string, environment: SourceEnvironment): ParsedSource {
  const match = /^hf:\/\/([^/@]+)\/([^/@]+)(?:@([^/]+))?\/(.+)$/.exec(source);
  if (!match) throw invalidInput(`hf:// source must look like hf://<org>/<repo>[@revision]/<path>, got "${source}"`, { field: "source" });
  const [, organisation, repository, revision = "main", filePath] = match;
  const endpoint = (environment.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
  const url = `${endpoint}/${organisation}/${repository}/resolve/${encodeURIComponent(revision)}/${filePath}`;
  const headers: Record<string, string> = environment.HF_TOKEN ? { authorization: `Bearer ${environment.HF_TOKEN}` } : {};
  return { kind: "http", url, headers };
}

/** Opens the source as a byte stream; an unreadable source is SOURCE_UNAVAILABLE. */
export async function openSource(source: ParsedSource): Promise<ReadableStream<Uint8Array>> {
  if (source.kind === "file") {
    const info = await stat(source.path).catch(() => undefined);
    if (!info?.isFile()) throw new ModelMoraError("SOURCE_UNAVAILABLE", `source file ${source.path} does not exist or is not a file`, { field: "source" });
    return Bun.file(source.path).stream();
  }
  let response: Response;
  try {
    response = await fetch(source.url, { headers: source.headers, redirect: "follow" });
  } catch (error) {
    throw new ModelMoraError("SOURCE_UNAVAILABLE", `could not fetch ${source.url}: ${error instanceof Error ? error.message : String(error)}`, { field: "source" });
  }
  if (!response.ok || !response.body) {
    throw new ModelMoraError("SOURCE_UNAVAILABLE", `fetching ${source.url} answered HTTP ${response.status}`, { field: "source", status: response.status });
  }
  return response.body;
}
