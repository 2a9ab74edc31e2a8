/**
 * Content-addressed cache of model files under `<dataDir>/models/sha256/<hex>`.
 *
 * Invariants:
 * - A file enters `sha256/` only after all its bytes have arrived, its length matches what the
 *   source declared, and its sha256 is known (and matches the expected one, if given). Until then
 *   it lives under `tmp/` with a random name and is renamed into place in one step, so a reader
 *   never sees half a file, and a download cut short (network, crash) is never taken for a
 *   complete one: whatever is left in `tmp/` is never read, and is swept once it is stale.
 * - A fetch whose expected sha256 is already in the cache (and still hashes to it) reads nothing
 *   from the source: a second install of the same file downloads nothing.
 */
import { copyFile, link, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { ModelMoraError } from "../errors.ts";
import { type SourcePolicy, UNRESTRICTED_SOURCE_POLICY } from "../security/source-policy.ts";
import { type SourceEnvironment, checkSourceAllowed, openSource, parseSource } from "./sources.ts";
import { VerifiedFiles } from "./verified-files.ts";

export interface CachedFile {
  sha256: string;
  sizeBytes: number;
  path: string;
}

export interface FetchedFile extends CachedFile {
  /** False when the expected sha256 was already cached and the source was not read. */
  downloaded: boolean;
}

export interface FetchProgress {
  /** The source as given (path, URL, hf:// reference). */
  source: string;
  /** Where the bytes come from (the file path or the resolved URL). */
  location: string;
  remote: boolean;
  receivedBytes: number;
  /** Undefined when the source does not say (an HTTP answer without Content-Length). */
  totalBytes: number | undefined;
  done: boolean;
}

export interface ModelCacheOptions {
  /**
   * Largest model file accepted from any source. A source that declares more is refused before
   * its body is read; one that sends more is cut off at the limit. Both fail with
   * PAYLOAD_TOO_LARGE. Raising it lets bigger models in at the cost of the disk they may fill.
   */
  maxFileBytes?: number;
  /** Where hf:// reads `HF_ENDPOINT` and `HF_TOKEN`; process.env by default. */
  environment?: SourceEnvironment;
  /** Called as bytes arrive, at most every PROGRESS_INTERVAL_BYTES and once at the end (the CLI's progress bar). */
  onProgress?: (progress: FetchProgress) => void;
  /** Where sources may be read from (the server passes its config's); unrestricted by default (the CLI offline). */
  policy?: SourcePolicy;
}

/** 4 GiB: twice the 2 GiB an ONNX protobuf file can hold without external data. */
export const DEFAULT_MAX_MODEL_FILE_BYTES = 4 * 1024 ** 3;

/** Temporary files untouched for this long belong to a process that died; they are removed. */
export const STALE_TEMPORARY_MILLISECONDS = 24 * 60 * 60 * 1000;

const PROGRESS_INTERVAL_BYTES = 256 * 1024;

export class ModelCache {
  private readonly blobDirectory: string;
  private readonly temporaryDirectory: string;
  private readonly isolatedDirectory: string;
  readonly maxFileBytes: number;
  private readonly environment: SourceEnvironment;
  private readonly onProgress: ((progress: FetchProgress) => void) | undefined;
  private readonly policy: SourcePolicy;
  /** Fetch-on-miss in progress, by sha256 (see `ensure`). */
  private readonly refetches = new Map<string, Promise<string>>();
  private readonly verifiedFiles = new VerifiedFiles();

  constructor(dataDir: string, options: ModelCacheOptions = {}) {
    this.blobDirectory = path.join(dataDir, "models", "sha256");
    this.temporaryDirectory = path.join(dataDir, "models", "tmp");
    this.isolatedDirectory = path.join(dataDir, "models", "isolated");
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_MODEL_FILE_BYTES;
    this.environment = options.environment ?? process.env;
    this.onProgress = options.onProgress;
    this.policy = options.policy ?? UNRESTRICTED_SOURCE_POLICY;
  }

  pathOf(sha256: string): string {
    return path.join(this.blobDirectory, sha256);
  }

  /**
   * Puts the file `source` names into the cache and returns where it is. With `expectedSha256`
   * already cached, the source is not read at all; otherwise it is streamed through `store`.
   * Failures: INVALID_INPUT (unparseable source), SOURCE_UNAVAILABLE (missing file, HTTP error,
   * interrupted download), PAYLOAD_TOO_LARGE, CHECKSUM_MISMATCH; none leaves a file behind.
   *
   * @example
   * const file = await cache.fetch("hf://org/repo@v1/model.onnx", "9f86d0…");
   * if (!file.downloaded) console.log("already cached at", file.path);
   */
  async fetch(source: string, expectedSha256?: string): Promise<FetchedFile> {
    const parsed = parseSource(source, this.environment);
    // Before the cache is consulted: a source the policy refuses cannot claim a cached file either.
    await checkSourceAllowed(parsed, this.policy);
    if (expectedSha256 !== undefined) {
      const cached = await this.lookup(expectedSha256);
      if (cached) return { ...cached, downloaded: false };
    }
    await this.sweepStaleTemporaries();
    const opened = await openSource(parsed, { maxBytes: this.maxFileBytes, policy: this.policy });
    const report = this.onProgress;
    const stored = await this.store(opened.body, expectedSha256, this.maxFileBytes, {
      expectedSizeBytes: opened.sizeBytes,
      location: opened.location,
      onBytes: report && ((receivedBytes, done) => report({ source, location: opened.location, remote: opened.remote, receivedBytes, totalBytes: opened.sizeBytes, done })),
    });
    return { ...stored, downloaded: true };
  }

  /**
   * Whether `source` exists: true when it opens, false when it answers 404 (the Hub's EntryNotFound);
   * other failures (refused by the policy, 401, unreachable) are thrown. Nothing is stored.
   */
  async exists(source: string): Promise<boolean> {
    const parsed = parseSource(source, this.environment);
    try {
      const opened = await openSource(parsed, { maxBytes: this.maxFileBytes, policy: this.policy });
      await opened.body.cancel().catch(() => undefined);
      return true;
    } catch (error) {
      if (error instanceof ModelMoraError && error.code === "SOURCE_UNAVAILABLE" && (error.details?.status === 404 || parsed.kind === "file")) return false;
      throw error;
    }
  }

  /**
   * Fetch-on-miss: the cached path of a registered file, fetched again from its recorded `source`
   * (and verified against `sha256`, CHECKSUM_MISMATCH otherwise) when this cache lacks it, as a
   * replica with its own volume does for a model another replica registered. Concurrent misses of
   * one file share one fetch. A file already present is trusted as `store` left it (not re-hashed).
   */
  async ensure(source: string, sha256: string): Promise<string> {
    const filePath = this.pathOf(sha256);
    if ((await stat(filePath).catch(() => undefined))?.isFile()) return filePath;
    let fetching = this.refetches.get(sha256);
    if (!fetching) {
      fetching = this.fetch(source, sha256).then((file) => file.path);
      this.refetches.set(sha256, fetching);
      void fetching.then(
        () => this.refetches.delete(sha256),
        () => this.refetches.delete(sha256),
      );
    }
    return fetching;
  }

  /**
   * The path onnxruntime opens the file by: `models/isolated/<sha256>/model.onnx`, a hard link to
   * (or, across file systems, a copy of) the cached file, alone in its directory. onnxruntime
   * resolves external data relative to the model's directory, so a model opened here finds no
   * other model's file next to it (the registry also refuses models declaring external data).
   */
  async isolatedPath(sha256: string): Promise<string> {
    const directory = path.join(this.isolatedDirectory, sha256);
    const target = path.join(directory, "model.onnx");
    const [existing, cached] = await Promise.all([stat(target).catch(() => undefined), stat(this.pathOf(sha256)).catch(() => undefined)]);
    // Still the cached file (the same inode, or a copy made after it): a cached file replaced since
    // (removed as corrupt, stored again) gets a fresh link.
    if (existing && (!cached || (existing.ino === cached.ino && existing.dev === cached.dev) || (existing.size === cached.size && existing.mtimeMs >= cached.mtimeMs && existing.nlink === 1))) {
      return target;
    }
    await mkdir(directory, { recursive: true });
    const partial = path.join(directory, `${crypto.randomUUID()}.partial`);
    await link(this.pathOf(sha256), partial).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== "EXDEV" && error.code !== "EPERM") throw error;
      await copyFile(this.pathOf(sha256), partial);
    });
    await rename(partial, target);
    return target;
  }

  /** The cached file for `sha256`, if present and intact (a corrupted one is removed). */
  async lookup(sha256: string): Promise<CachedFile | undefined> {
    const normalized = sha256.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(normalized)) return undefined;
    const filePath = this.pathOf(normalized);
    const info = await stat(filePath).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    if ((await hashFile(filePath)) !== normalized) {
      await rm(filePath, { force: true });
      return undefined;
    }
    return { sha256: normalized, sizeBytes: info.size, path: filePath };
  }

  /**
   * Streams `body` into the cache, hashing as it goes. CHECKSUM_MISMATCH, PAYLOAD_TOO_LARGE and a
   * body shorter than `expectedSizeBytes` (SOURCE_UNAVAILABLE) leave nothing behind.
   */
  async store(
    body: ReadableStream<Uint8Array>,
    expectedSha256?: string,
    maxBytes = Number.POSITIVE_INFINITY,
    options: { expectedSizeBytes?: number; location?: string; onBytes?: (receivedBytes: number, done: boolean) => void } = {},
  ): Promise<CachedFile> {
    await mkdir(this.blobDirectory, { recursive: true });
    await mkdir(this.temporaryDirectory, { recursive: true });
    const temporaryPath = path.join(this.temporaryDirectory, `${crypto.randomUUID()}.partial`);
    const hasher = new Bun.CryptoHasher("sha256");
    const sink = Bun.file(temporaryPath).writer();
    const location = options.location ?? "the source";
    let sizeBytes = 0;
    let reportedAt = 0;
    try {
      try {
        for await (const chunk of body) {
          sizeBytes += chunk.byteLength;
          if (sizeBytes > maxBytes) throw new ModelMoraError("PAYLOAD_TOO_LARGE", `model file ${location} is larger than the limit of ${maxBytes} bytes`, { limitBytes: maxBytes });
          hasher.update(chunk);
          sink.write(chunk);
          if (options.onBytes && sizeBytes - reportedAt >= PROGRESS_INTERVAL_BYTES) {
            reportedAt = sizeBytes;
            options.onBytes(sizeBytes, false);
          }
        }
      } catch (error) {
        if (error instanceof ModelMoraError) throw error;
        throw interrupted(location, sizeBytes, options.expectedSizeBytes, error);
      }
      if (options.expectedSizeBytes !== undefined && sizeBytes !== options.expectedSizeBytes) {
        throw interrupted(location, sizeBytes, options.expectedSizeBytes);
      }
      await sink.end();
      options.onBytes?.(sizeBytes, true);
      const sha256 = hasher.digest("hex");
      if (expectedSha256 !== undefined && sha256 !== expectedSha256.toLowerCase()) {
        throw new ModelMoraError("CHECKSUM_MISMATCH", `sha256 of ${location} is ${sha256}, not the expected ${expectedSha256.toLowerCase()}; nothing was kept`, {
          expected: expectedSha256.toLowerCase(),
          actual: sha256,
        });
      }
      const finalPath = this.pathOf(sha256);
      await rename(temporaryPath, finalPath);
      return { sha256, sizeBytes, path: finalPath };
    } catch (error) {
      await body.cancel().catch(() => undefined);
      await Promise.resolve(sink.end()).catch(() => undefined);
      await rm(temporaryPath, { force: true });
      throw error;
    }
  }

  /**
   * Throws CHECKSUM_MISMATCH unless the cached file still hashes to `sha256`; a file this process
   * already hashed is not read again while it is unchanged on disk (verified-files.ts).
   */
  async verify(filePath: string, sha256: string): Promise<void> {
    const { matches, actual } = await this.verifiedFiles.matches(filePath, sha256, hashFile);
    if (!matches) {
      throw new ModelMoraError("CHECKSUM_MISMATCH", "cached model file no longer matches its registered sha256", { expected: sha256, actual });
    }
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
    await rm(path.join(this.isolatedDirectory, sha256), { recursive: true, force: true });
  }

  /** Removes temporary files left by processes that died mid-download; fresh ones may be another process's download in progress. */
  private async sweepStaleTemporaries(): Promise<void> {
    const names = await readdir(this.temporaryDirectory).catch(() => [] as string[]);
    const now = Date.now();
    await Promise.all(
      names.map(async (name) => {
        const filePath = path.join(this.temporaryDirectory, name);
        const info = await stat(filePath).catch(() => undefined);
        if (info && now - info.mtimeMs > STALE_TEMPORARY_MILLISECONDS) await rm(filePath, { force: true });
      }),
    );
  }
}

async function hashFile(filePath: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(filePath).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

function interrupted(location: string, receivedBytes: number, expectedBytes: number | undefined, cause?: unknown): ModelMoraError {
  const of = expectedBytes === undefined ? "" : ` of ${expectedBytes}`;
  const reason = cause === undefined ? "" : `: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new ModelMoraError("SOURCE_UNAVAILABLE", `download of ${location} stopped after ${receivedBytes}${of} bytes${reason}; nothing was kept, try again`, {
    field: "source",
    receivedBytes,
    ...(expectedBytes !== undefined && { expectedBytes }),
  });
}
