/**
 * Content-addressed cache of model files under `<dataDir>/models/sha256/<hex>`.
 * A file enters the cache only after its sha256 is known (and matches the expected one, if given);
 * it is written to a temporary name first and renamed into place, so a reader never sees half a file.
 */
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { ModelMoraError } from "../errors.ts";

export interface CachedFile {
  sha256: string;
  sizeBytes: number;
  path: string;
}

export class ModelCache {
  private readonly blobDirectory: string;
  private readonly temporaryDirectory: string;

  constructor(dataDir: string) {
    this.blobDirectory = path.join(dataDir, "models", "sha256");
    this.temporaryDirectory = path.join(dataDir, "models", "tmp");
  }

  pathOf(sha256: string): string {
    return path.join(this.blobDirectory, sha256);
  }

  /** Streams `body` into the cache, hashing as it goes; CHECKSUM_MISMATCH leaves nothing behind. */
  async store(body: ReadableStream<Uint8Array>, expectedSha256?: string, maxBytes = Number.POSITIVE_INFINITY): Promise<CachedFile> {
    await mkdir(this.blobDirectory, { recursive: true });
    await mkdir(this.temporaryDirectory, { recursive: true });
    const temporaryPath = path.join(this.temporaryDirectory, crypto.randomUUID());
    const hasher = new Bun.CryptoHasher("sha256");
    const sink = Bun.file(temporaryPath).writer();
    let sizeBytes = 0;
    try {
      for await (const chunk of body) {
        sizeBytes += chunk.byteLength;
        if (sizeBytes > maxBytes) throw new ModelMoraError("PAYLOAD_TOO_LARGE", `model file is larger than ${maxBytes} bytes`);
        hasher.update(chunk);
        sink.write(chunk);
      }
      await sink.end();
      const sha256 = hasher.digest("hex");
      if (expectedSha256 !== undefined && sha256 !== expectedSha256.toLowerCase()) {
        throw new ModelMoraError("CHECKSUM_MISMATCH", "sha256 of the downloaded file does not match the expected checksum", {
          expected: expectedSha256.toLowerCase(),
          actual: sha256,
        });
      }
      const finalPath = this.pathOf(sha256);
      await rename(temporaryPath, finalPath);
      return { sha256, sizeBytes, path: finalPath };
    } catch (error) {
      await Promise.resolve(sink.end()).catch(() => undefined);
      await rm(temporaryPath, { force: true });
      throw error;
    }
  }

  /** Throws CHECKSUM_MISMATCH unless the cached file still hashes to `sha256`. */
  async verify(filePath: string, sha256: string): Promise<void> {
    const hasher = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(filePath).stream()) hasher.update(chunk);
    const actual = hasher.digest("hex");
    if (actual !== sha256) {
      throw new ModelMoraError("CHECKSUM_MISMATCH", "cached model file no longer matches its registered sha256", { expected: sha256, actual });
    }
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }
}
