/**
 * Model sources: an absolute path or `file://` URL, an `http(s)://` URL, or
 * `hf://<org>/<repo>[@revision]/<path>` (the Hugging Face Hub's `resolve` layout, honouring
 * `HF_ENDPOINT` for mirrors and `HF_TOKEN` for private repositories).
 *
 * This module parses a source and opens it as a byte stream; writing the bytes into the
 * content-addressed cache (temporary file, size limit, sha256) is model-cache.ts's job.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ModelMoraError, invalidInput } from "../errors.ts";
import { pinnedRequest } from "../security/pinned-fetch.ts";
import { type SourcePolicy, UNRESTRICTED_SOURCE_POLICY, checkLocalSource, checkRemoteSource } from "../security/source-policy.ts";

/** Reads `HF_ENDPOINT` and `HF_TOKEN`. */
export type SourceEnvironment = Record<string, string | undefined>;

export type ParsedSource = { kind: "file"; path: string } | { kind: "http"; url: string; headers: Record<string, string> };

/** Where a Hugging Face Hub reference resolves when `HF_ENDPOINT` is unset. */
export const HUGGING_FACE_ENDPOINT = "https://huggingface.co";

/** Redirects followed before a download is given up (the Hub answers `resolve` with one or two). */
const MAX_REDIRECTS = 10;

/**
 * @example
 * parseSource("hf://org/repo@v1/onnx/model.onnx", { HF_TOKEN: "hf_…" })
 * // { kind: "http", url: "https://huggingface.co/org/repo/resolve/v1/onnx/model.onnx",
 * //   headers: { authorization: "Bearer hf_…" } }
 */
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
  const endpoint = (environment.HF_ENDPOINT || HUGGING_FACE_ENDPOINT).replace(/\/+$/, "");
  // Each path segment is escaped (a space, '#' or '?' in a file name), the folders are kept.
  const escapedPath = filePath!.split("/").map(encodeURIComponent).join("/");
  const url = `${endpoint}/${organisation}/${repository}/resolve/${encodeURIComponent(revision)}/${escapedPath}`;
  const headers: Record<string, string> = environment.HF_TOKEN ? { authorization: `Bearer ${environment.HF_TOKEN}` } : {};
  return { kind: "http", url, headers };
}

export interface OpenedSource {
  body: ReadableStream<Uint8Array>;
  /** Bytes the body will carry when the source says so (file size, Content-Length); a shorter body is a failed download. */
  sizeBytes: number | undefined;
  /** The file path or the URL finally fetched, for messages. */
  location: string;
  remote: boolean;
}

export interface OpenOptions {
  /** A source declaring more bytes than this is refused before its body is read (PAYLOAD_TOO_LARGE). */
  maxBytes?: number;
  signal?: AbortSignal;
  /** Where the source may be read from, and how long to wait (src/security/source-policy.ts); unrestricted by default. */
  policy?: SourcePolicy;
}

/** Throws FORBIDDEN "not allowed by policy" unless `source` may be read at all; reads nothing. */
export async function checkSourceAllowed(source: ParsedSource, policy: SourcePolicy): Promise<void> {
  if (source.kind === "file") await checkLocalSource(policy, source.path);
  else await checkRemoteSource(policy, new URL(source.url)); // checked again, and pinned, at every hop of the fetch
}

/** Opens the source as a byte stream; an unreadable source is SOURCE_UNAVAILABLE. */
export async function openSource(source: ParsedSource, options: OpenOptions = {}): Promise<OpenedSource> {
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  const policy = options.policy ?? UNRESTRICTED_SOURCE_POLICY;
  await checkSourceAllowed(source, policy);
  if (source.kind === "file") {
    const info = await stat(source.path).catch(() => undefined);
    if (!info?.isFile()) throw new ModelMoraError("SOURCE_UNAVAILABLE", `source file ${source.path} does not exist or is not a file`, { field: "source" });
    if (info.size > maxBytes) throw tooLarge(source.path, info.size, maxBytes);
    return { body: Bun.file(source.path).stream(), sizeBytes: info.size, location: source.path, remote: false };
  }
  const abort = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
  const response = await fetchFollowingRedirects(source, signal, policy, abort);
  const declared = declaredLength(response);
  if (declared !== undefined && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge(response.url || source.url, declared, maxBytes);
  }
  return { body: withIdleTimeout(response.body!, policy.idleTimeoutMilliseconds, abort), sizeBytes: declared, location: source.url, remote: true };
}

/**
 * GET with redirects followed by hand, so that credentials (HF_TOKEN) go only to the origin they
 * were meant for: the Hub redirects file downloads to a CDN, which must not see the token.
 */
async function fetchFollowingRedirects(source: Extract<ParsedSource, { kind: "http" }>, signal: AbortSignal, policy: SourcePolicy, abort: AbortController): Promise<Response> {
  let url = source.url;
  let headers: Record<string, string> = { ...source.headers, "accept-encoding": "identity" };
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // Every hop, the first included: scheme (no file:, data:), host and resolved address.
    const address = await checkRemoteSource(policy, new URL(url));
    let response: Response;
    const connectTimer = setTimeout(() => abort.abort(new Error(`no answer within ${policy.connectTimeoutMilliseconds / 1000} s`)), policy.connectTimeoutMilliseconds);
    try {
      // To the address just checked, not to a second DNS answer (pinned-fetch.ts).
      response = await fetch(...pinnedRequest(new URL(url), address, { headers, redirect: "manual", signal }));
    } catch (error) {
      const reason = abort.signal.aborted ? abort.signal.reason : error;
      throw new ModelMoraError("SOURCE_UNAVAILABLE", `could not fetch ${url}: ${reason instanceof Error ? reason.message : String(reason)}`, { field: "source" });
    } finally {
      clearTimeout(connectTimer);
    }
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel().catch(() => undefined);
      const next = new URL(location, url);
      if (next.origin !== new URL(url).origin) headers = withoutAuthorization(headers);
      url = next.toString();
      continue;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      throw unavailable(source.url, url, response, "authorization" in source.headers);
    }
    return response;
  }
  throw new ModelMoraError("SOURCE_UNAVAILABLE", `fetching ${source.url} was redirected more than ${MAX_REDIRECTS} times`, { field: "source" });
}

/**
 * The body, failing (and aborting the fetch) when no chunk arrives for `idleMilliseconds`; the
 * cache then keeps nothing, as for any interrupted download.
 */
function withIdleTimeout(body: ReadableStream<Uint8Array>, idleMilliseconds: number, abort: AbortController): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const timer = setTimeout(() => abort.abort(new Error(`no data for ${idleMilliseconds / 1000} s`)), idleMilliseconds);
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(abort.signal.aborted ? abort.signal.reason : error);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== "authorization"));
}

/** The body's length, when Content-Length gives it for the bytes as they will be read (no content coding). */
function declaredLength(response: Response): number | undefined {
  const encoding = response.headers.get("content-encoding");
  if (encoding && encoding !== "identity") return undefined;
  const raw = response.headers.get("content-length");
  return raw !== null && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

function unavailable(requested: string, fetched: string, response: Response, sentToken: boolean): ModelMoraError {
  // The Hub explains its 4xx answers in these headers (EntryNotFound, RevisionNotFound, GatedRepo…).
  const hubCode = response.headers.get("x-error-code");
  const hubMessage = response.headers.get("x-error-message");
  const reasons = [hubCode, hubMessage].filter(Boolean).join(": ");
  let hint = "";
  if ((response.status === 401 || response.status === 403) && !sentToken) hint = " (a private or gated Hugging Face repository needs HF_TOKEN)";
  if (response.status === 404) hint = " (check the URL, or the repository, revision and file path of an hf:// source)";
  const via = fetched === requested ? "" : ` (redirected to ${new URL(fetched).origin})`;
  return new ModelMoraError(
    "SOURCE_UNAVAILABLE",
    `fetching ${requested}${via} answered HTTP ${response.status}${reasons ? ` ${reasons}` : ""}${hint}`,
    { field: "source", status: response.status, ...(hubCode && { hubErrorCode: hubCode }) },
  );
}

function tooLarge(location: string, sizeBytes: number, maxBytes: number): ModelMoraError {
  return new ModelMoraError("PAYLOAD_TOO_LARGE", `model file ${location} is ${sizeBytes} bytes, more than the limit of ${maxBytes} bytes`, {
    field: "source",
    sizeBytes,
    limitBytes: maxBytes,
  });
}
