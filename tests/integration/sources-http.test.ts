/**
 * Downloads into the content-addressed cache from http(s):// URLs and hf:// references, against
 * a local server in the Hugging Face Hub's URL layout (tests/support/hub-fixture.ts; no
 * internet). Pins: the resolve layout with a revision or main, HF_ENDPOINT mirrors, HF_TOKEN sent
 * (and not leaked to a redirect's other origin), clear SOURCE_UNAVAILABLE errors, the size limit,
 * sha256 verification, interrupted downloads leaving nothing behind, and a known sha256 already
 * cached being reused without a request.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readdir, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { type FetchProgress, ModelCache, STALE_TEMPORARY_MILLISECONDS } from "../../src/registry/model-cache.ts";
import { type HubFixture, sha256Hex, startHub } from "../support/hub-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { rejection } from "../support/rejection.ts";

/** Deterministic bytes, large enough to arrive in several chunks. */
function fileBytes(seed: number, length = 200_000): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state = (state * 1664525 + 1013904223) >>> 0;
    bytes[index] = state >>> 24;
  }
  return bytes;
}

let hub: HubFixture;
let directory: TemporaryDirectory;
let dataDir: string;

beforeEach(async () => {
  hub = startHub();
  directory = await temporaryDirectory();
  dataDir = path.join(directory.path, "data");
});

afterEach(async () => {
  await hub[Symbol.asyncDispose]();
  await directory[Symbol.asyncDispose]();
});

function cacheWith(environment: Record<string, string | undefined> = { HF_ENDPOINT: hub.endpoint }, options: { maxFileBytes?: number; onProgress?: (progress: FetchProgress) => void } = {}) {
  return new ModelCache(dataDir, { environment, ...options });
}

async function listing(folder: "sha256" | "tmp"): Promise<string[]> {
  return readdir(path.join(dataDir, "models", folder)).catch(() => []);
}

describe("hf:// references in the Hub's resolve layout", () => {
  test("without @revision the main revision is fetched, and the file lands under its sha256", async () => {
    const bytes = fileBytes(1);
    hub.addFile("org/repo", "onnx/model.onnx", { bytes });
    const fetched = await cacheWith().fetch("hf://org/repo/onnx/model.onnx");
    expect(fetched).toMatchObject({ sha256: sha256Hex(bytes), sizeBytes: bytes.length, downloaded: true });
    expect(fetched.path).toBe(path.join(dataDir, "models", "sha256", sha256Hex(bytes)));
    expect(await Bun.file(fetched.path).bytes()).toEqual(new Uint8Array(bytes));
    expect(hub.requests.map((request) => request.path)).toEqual(["/org/repo/resolve/main/onnx/model.onnx"]);
    expect(await listing("tmp")).toEqual([]);
  });

  test("@revision fetches that revision, not main", async () => {
    const onMain = fileBytes(2);
    const onTag = fileBytes(3);
    hub.addFile("org/repo", "model.onnx", { bytes: onMain });
    hub.addFile("org/repo", "model.onnx", { bytes: onTag }, "v1.0");
    const fetched = await cacheWith().fetch("hf://org/repo@v1.0/model.onnx");
    expect(fetched.sha256).toBe(sha256Hex(onTag));
    expect(hub.requests.map((request) => request.path)).toEqual(["/org/repo/resolve/v1.0/model.onnx"]);
  });

  test("HF_ENDPOINT points hf:// at a mirror (trailing slash allowed); the default endpoint is never asked", async () => {
    await using mirror = startHub();
    const bytes = fileBytes(4);
    mirror.addFile("org/repo", "model.onnx", { bytes });
    const fetched = await cacheWith({ HF_ENDPOINT: `${mirror.endpoint}/` }).fetch("hf://org/repo/model.onnx");
    expect(fetched.sha256).toBe(sha256Hex(bytes));
    expect(mirror.downloadsOf("/org/repo/resolve/main/model.onnx")).toBe(1);
    expect(hub.requests).toEqual([]);
  });

  test("HF_TOKEN is sent as a bearer token and opens a private repository", async () => {
    const bytes = fileBytes(5);
    hub.addFile("org/private", "model.onnx", { bytes });
    hub.makePrivate("org/private", "hf_secret");
    const fetched = await cacheWith({ HF_ENDPOINT: hub.endpoint, HF_TOKEN: "hf_secret" }).fetch("hf://org/private/model.onnx");
    expect(fetched.sha256).toBe(sha256Hex(bytes));
    expect(hub.requests[0]!.authorization).toBe("Bearer hf_secret");
  });

  test("a private repository without HF_TOKEN is SOURCE_UNAVAILABLE naming the status and HF_TOKEN", async () => {
    hub.addFile("org/private", "model.onnx", { bytes: fileBytes(6) });
    hub.makePrivate("org/private", "hf_secret");
    const error = await rejection(cacheWith().fetch("hf://org/private/model.onnx"));
    expect(error.code).toBe("SOURCE_UNAVAILABLE");
    expect(error.message).toContain("HTTP 401");
    expect(error.message).toContain("HF_TOKEN");
    expect(error.details).toMatchObject({ status: 401, hubErrorCode: "GatedRepo" });
  });

  test("a redirect to another origin (the Hub's LFS CDN) is followed without the token", async () => {
    const bytes = fileBytes(7);
    hub.addFile("org/repo", "big.onnx", { bytes, lfs: true });
    const fetched = await cacheWith({ HF_ENDPOINT: hub.endpoint, HF_TOKEN: "hf_secret" }).fetch("hf://org/repo/big.onnx");
    expect(fetched.sha256).toBe(sha256Hex(bytes));
    const [atHub, atCdn] = hub.requests;
    expect(atHub).toMatchObject({ path: "/org/repo/resolve/main/big.onnx", authorization: "Bearer hf_secret" });
    expect(atCdn).toMatchObject({ path: `/lfs/${sha256Hex(bytes)}`, authorization: null });
    expect(`http://${atCdn!.origin}`).toBe(hub.cdnOrigin);
  });

  test("a missing file is SOURCE_UNAVAILABLE with the URL, HTTP 404 and the Hub's error code; nothing is cached", async () => {
    const error = await rejection(cacheWith().fetch("hf://org/repo@v2/missing.onnx"));
    expect(error.code).toBe("SOURCE_UNAVAILABLE");
    expect(error.message).toContain(`${hub.endpoint}/org/repo/resolve/v2/missing.onnx`);
    expect(error.message).toContain("HTTP 404");
    expect(error.message).toContain("EntryNotFound");
    expect(error.details).toMatchObject({ field: "source", status: 404 });
    expect(await listing("sha256")).toEqual([]);
    expect(await listing("tmp")).toEqual([]);
  });

  test("file names with spaces are escaped in the URL", async () => {
    const bytes = fileBytes(8, 1000);
    hub.addFile("org/repo", "my model.onnx", { bytes });
    expect((await cacheWith().fetch("hf://org/repo/my model.onnx")).sha256).toBe(sha256Hex(bytes));
  });
});

describe("http(s):// URLs", () => {
  test("a plain URL is downloaded without an authorization header, even with HF_TOKEN set", async () => {
    const bytes = fileBytes(9);
    const url = hub.addFile("org/repo", "model.onnx", { bytes });
    const fetched = await cacheWith({ HF_TOKEN: "hf_secret" }).fetch(url);
    expect(fetched.sha256).toBe(sha256Hex(bytes));
    expect(hub.requests[0]!.authorization).toBeNull();
  });

  test("an unreachable host is SOURCE_UNAVAILABLE", async () => {
    const error = await rejection(cacheWith().fetch("http://127.0.0.1:1/model.onnx"));
    expect(error.code).toBe("SOURCE_UNAVAILABLE");
    expect(error.message).toContain("http://127.0.0.1:1/model.onnx");
  });

  test("progress reports the declared total and ends with every byte received", async () => {
    const bytes = fileBytes(10, 1_000_000);
    const url = hub.addFile("org/repo", "model.onnx", { bytes });
    const events: FetchProgress[] = [];
    await cacheWith({}, { onProgress: (progress) => events.push(progress) }).fetch(url);
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((event) => event.totalBytes === bytes.length && event.remote)).toBe(true);
    expect(events.at(-1)).toMatchObject({ done: true, receivedBytes: bytes.length, location: url });
  });
});

describe("size limit", () => {
  test("a declared Content-Length over the limit is refused before the body is read", async () => {
    const url = hub.addFile("org/repo", "model.onnx", { bytes: fileBytes(11, 50_000) });
    const error = await rejection(cacheWith({}, { maxFileBytes: 10_000 }).fetch(url));
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(error.details).toMatchObject({ sizeBytes: 50_000, limitBytes: 10_000 });
    expect(await listing("sha256")).toEqual([]);
    expect(await listing("tmp")).toEqual([]);
  });

  test("a body without Content-Length is cut off at the limit and nothing is kept", async () => {
    const url = hub.addFile("org/repo", "model.onnx", { bytes: fileBytes(12, 50_000), chunked: true });
    const error = await rejection(cacheWith({}, { maxFileBytes: 10_000 }).fetch(url));
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await listing("sha256")).toEqual([]);
    expect(await listing("tmp")).toEqual([]);
  });

  test("a file exactly at the limit is accepted", async () => {
    const bytes = fileBytes(13, 10_000);
    const url = hub.addFile("org/repo", "model.onnx", { bytes });
    expect((await cacheWith({}, { maxFileBytes: 10_000 }).fetch(url)).sizeBytes).toBe(10_000);
  });
});

describe("verification and partial downloads", () => {
  test("a sha256 mismatch is CHECKSUM_MISMATCH with both checksums, and leaves nothing in the cache", async () => {
    const bytes = fileBytes(14);
    const url = hub.addFile("org/repo", "model.onnx", { bytes });
    const error = await rejection(cacheWith().fetch(url, "0".repeat(64)));
    expect(error.code).toBe("CHECKSUM_MISMATCH");
    expect(error.details).toEqual({ expected: "0".repeat(64), actual: sha256Hex(bytes) });
    expect(await listing("sha256")).toEqual([]);
    expect(await listing("tmp")).toEqual([]);
  });

  test("a matching sha256 (in any case) is accepted", async () => {
    const bytes = fileBytes(15);
    const url = hub.addFile("org/repo", "model.onnx", { bytes });
    expect((await cacheWith().fetch(url, sha256Hex(bytes).toUpperCase())).sha256).toBe(sha256Hex(bytes));
  });

  test("a connection dropped mid-body is SOURCE_UNAVAILABLE, leaves no partial file, and a retry succeeds", async () => {
    const bytes = fileBytes(16, 500_000);
    const url = hub.addFile("org/repo", "model.onnx", { bytes });
    hub.interruptNext("/org/repo/resolve/main/model.onnx");
    const cache = cacheWith();
    const error = await rejection(cache.fetch("hf://org/repo/model.onnx", sha256Hex(bytes)));
    expect(error.code).toBe("SOURCE_UNAVAILABLE");
    expect(error.message).toContain(url);
    expect(await listing("sha256")).toEqual([]);
    expect(await listing("tmp")).toEqual([]);

    const retried = await cache.fetch("hf://org/repo/model.onnx", sha256Hex(bytes));
    expect(retried).toMatchObject({ sha256: sha256Hex(bytes), sizeBytes: bytes.length, downloaded: true });
    expect(hub.downloadsOf("/org/repo/resolve/main/model.onnx")).toBe(2);
  });

  test("temporary files of a dead process are swept once stale; a fresh one (a download in progress) is kept", async () => {
    const temporary = path.join(dataDir, "models", "tmp");
    const cache = cacheWith();
    hub.addFile("org/repo", "a.onnx", { bytes: fileBytes(17, 100) });
    await cache.fetch("hf://org/repo/a.onnx");
    await writeFile(path.join(temporary, "stale.partial"), "half a file");
    await writeFile(path.join(temporary, "fresh.partial"), "another process's download");
    const longAgo = new Date(Date.now() - STALE_TEMPORARY_MILLISECONDS - 60_000);
    await utimes(path.join(temporary, "stale.partial"), longAgo, longAgo);
    hub.addFile("org/repo", "b.onnx", { bytes: fileBytes(18, 100) });
    await cache.fetch("hf://org/repo/b.onnx");
    expect(await listing("tmp")).toEqual(["fresh.partial"]);
  });
});

describe("a second install of the same file", () => {
  test("with its sha256 already cached, nothing is requested at all", async () => {
    const bytes = fileBytes(19);
    hub.addFile("org/repo", "model.onnx", { bytes });
    const cache = cacheWith();
    const first = await cache.fetch("hf://org/repo/model.onnx");
    const second = await cache.fetch("hf://org/repo/model.onnx", first.sha256);
    expect(first.downloaded).toBe(true);
    expect(second).toEqual({ ...first, downloaded: false });
    expect(hub.requests).toHaveLength(1);
  });

  test("a cached file that no longer hashes to its name is not reused: it is removed and fetched again", async () => {
    const bytes = fileBytes(20);
    hub.addFile("org/repo", "model.onnx", { bytes });
    const cache = cacheWith();
    const first = await cache.fetch("hf://org/repo/model.onnx");
    await writeFile(first.path, "bit rot");
    const second = await cache.fetch("hf://org/repo/model.onnx", first.sha256);
    expect(second.downloaded).toBe(true);
    expect(await Bun.file(second.path).bytes()).toEqual(new Uint8Array(bytes));
    expect(hub.requests).toHaveLength(2);
  });
});
