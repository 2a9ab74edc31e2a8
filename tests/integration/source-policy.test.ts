/**
 * The source policy the server registers models under (src/security/source-policy.ts), against
 * real files and a real HTTP server. The "allowed" server listens on 127.0.0.2 and the policy
 * exempts exactly that address, so 127.0.0.1 (loopback) stays refused: redirects to loopback,
 * link-local, file: and data: are refused at the hop, local paths only inside the allowed
 * directory, and every refusal is the same "not allowed by policy" whether the file exists or not.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Server } from "bun";
import { ModelMoraError } from "../../src/errors.ts";
import { ModelCache } from "../../src/registry/model-cache.ts";
import { type SourcePolicy, isPublicAddress, stripCredentials } from "../../src/security/source-policy.ts";
import { startCore, callApp } from "../support/core-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";

const MODEL_BYTES = new TextEncoder().encode("not really onnx, only bytes to cache");
const sha256 = (bytes: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

let directory: TemporaryDirectory;
let allowedDirectory: string;
let outsideFile: string;
let allowed: Server<undefined>;
let loopback: Server<undefined>;
const loopbackHits: string[] = [];

beforeAll(async () => {
  directory = await temporaryDirectory();
  allowedDirectory = path.join(directory.path, "allowed");
  await mkdir(allowedDirectory);
  await writeFile(path.join(allowedDirectory, "model.onnx"), MODEL_BYTES);
  outsideFile = path.join(directory.path, "secret.onnx");
  await writeFile(outsideFile, "outside the allowed directory");
  await symlink(outsideFile, path.join(allowedDirectory, "link.onnx"));
  loopback = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => (loopbackHits.push(new URL(request.url).pathname), new Response("internal")) });
  allowed = Bun.serve({
    hostname: "127.0.0.2",
    port: 0,
    async fetch(request) {
      const route = new URL(request.url).pathname;
      if (route === "/model.onnx") return new Response(MODEL_BYTES);
      if (route === "/to-loopback") return Response.redirect(`http://127.0.0.1:${loopback.port}/health/live`, 302);
      if (route === "/to-localhost") return Response.redirect(`http://localhost:${loopback.port}/x`, 302);
      if (route === "/to-metadata") return Response.redirect("http://169.254.169.254/latest/meta-data/", 302);
      if (route === "/to-file") return Response.redirect(`file://${outsideFile}`, 302);
      if (route === "/to-data") return Response.redirect("data:application/octet-stream;base64,AAAA", 302);
      if (route === "/to-self") return Response.redirect("/model.onnx", 302);
      if (route === "/stall-body") {
        // Headers and a first chunk, then nothing.
        return new Response(new ReadableStream({ start: (controller) => controller.enqueue(new Uint8Array(10)) }), { headers: { "content-length": "1000" } });
      }
      if (route === "/stall-headers") return new Promise<Response>(() => {});
      return new Response("not found", { status: 404 });
    },
  });
});

afterAll(async () => {
  await allowed?.stop(true);
  await loopback?.stop(true);
  await directory?.[Symbol.asyncDispose]();
});

function policy(overrides: Partial<SourcePolicy> = {}): SourcePolicy {
  return {
    localDirectories: [allowedDirectory],
    hosts: ["127.0.0.2", "127.0.0.1", "localhost", "169.254.169.254"],
    allowPrivateNetworks: ["127.0.0.2"],
    connectTimeoutMilliseconds: 5_000,
    idleTimeoutMilliseconds: 5_000,
    ...overrides,
  };
}

function cache(overrides: Partial<SourcePolicy> = {}): ModelCache {
  return new ModelCache(path.join(directory.path, "data"), { policy: policy(overrides), environment: {} });
}

async function failure(promise: Promise<unknown>): Promise<ModelMoraError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ModelMoraError) return error;
    throw error;
  }
  throw new Error("expected a ModelMoraError, it resolved");
}

async function expectRefused(promise: Promise<unknown>): Promise<void> {
  const error = await failure(promise);
  expect({ code: error.code, message: error.message, details: error.details }).toEqual({ code: "FORBIDDEN", message: "source not allowed by policy", details: { field: "source" } });
}

describe("local paths", () => {
  test("a file inside an allowed directory is read", async () => {
    const fetched = await cache().fetch(path.join(allowedDirectory, "model.onnx"));
    expect(fetched.sha256).toBe(sha256(MODEL_BYTES));
  });

  test("outside the allowed directories, an existing and a missing file get the same refusal", async () => {
    await expectRefused(cache().fetch(outsideFile));
    await expectRefused(cache().fetch(path.join(directory.path, "absent.onnx")));
    await expectRefused(cache().fetch("/proc/self/environ"));
    await expectRefused(cache().fetch(`file://${outsideFile}`));
    await expectRefused(cache().fetch(path.join(allowedDirectory, "..", "secret.onnx")));
  });

  test("a symbolic link inside an allowed directory that points outside it is refused", async () => {
    await expectRefused(cache().fetch(path.join(allowedDirectory, "link.onnx")));
  });

  test("with no directories allowed (the server's default), no path is read", async () => {
    await expectRefused(cache({ localDirectories: [] }).fetch(path.join(allowedDirectory, "model.onnx")));
  });

  test("a cached sha256 does not let a refused source claim the cached file", async () => {
    const cached = await cache().fetch(path.join(allowedDirectory, "model.onnx"));
    await expectRefused(cache().fetch(outsideFile, cached.sha256));
  });
});

describe("http(s)", () => {
  test("an allowed host at an allowed address is fetched, also through a same-host redirect", async () => {
    expect((await cache().fetch(`http://127.0.0.2:${allowed.port}/model.onnx`)).sha256).toBe(sha256(MODEL_BYTES));
    expect((await cache().fetch(`http://127.0.0.2:${allowed.port}/to-self`)).sha256).toBe(sha256(MODEL_BYTES));
  });

  test("a host outside MODELMORA_SOURCE_HOSTS is refused before any request", async () => {
    await expectRefused(cache({ hosts: ["huggingface.co"] }).fetch(`http://127.0.0.2:${allowed.port}/model.onnx`));
  });

  test("loopback, localhost and link-local are refused even when the host is listed", async () => {
    loopbackHits.length = 0;
    await expectRefused(cache().fetch(`http://127.0.0.1:${loopback.port}/health/live`));
    await expectRefused(cache().fetch(`http://localhost:${loopback.port}/health/live`));
    await expectRefused(cache().fetch("http://169.254.169.254/latest/meta-data/"));
    await expectRefused(cache({ hosts: "any" }).fetch(`http://[::1]:${loopback.port}/`));
    expect(loopbackHits).toEqual([]);
  });

  test("redirects to loopback, localhost, link-local, file: and data: are refused at the hop", async () => {
    loopbackHits.length = 0;
    for (const route of ["/to-loopback", "/to-localhost", "/to-metadata", "/to-file", "/to-data"]) {
      await expectRefused(cache({ hosts: "any" }).fetch(`http://127.0.0.2:${allowed.port}${route}`));
    }
    expect(loopbackHits).toEqual([]);
  });

  test("a source that stops sending is abandoned after the idle timeout, one that never answers after the connect timeout", async () => {
    const started = performance.now();
    const stalled = await failure(cache({ idleTimeoutMilliseconds: 300 }).fetch(`http://127.0.0.2:${allowed.port}/stall-body`));
    expect(stalled.code).toBe("SOURCE_UNAVAILABLE");
    expect(stalled.message).toContain("no data for 0.3 s");
    const silent = await failure(cache({ connectTimeoutMilliseconds: 300 }).fetch(`http://127.0.0.2:${allowed.port}/stall-headers`));
    expect(silent.code).toBe("SOURCE_UNAVAILABLE");
    expect(silent.message).toContain("no answer within 0.3 s");
    expect(performance.now() - started).toBeLessThan(4_000);
  });
});

describe("addresses and stored sources", () => {
  test.each([
    ["127.0.0.1", false], ["10.1.2.3", false], ["172.16.0.1", false], ["172.31.255.255", false], ["192.168.1.1", false],
    ["169.254.169.254", false], ["100.64.0.1", false], ["0.0.0.0", false], ["224.0.0.1", false], ["::1", false], ["::", false],
    ["fe80::1", false], ["fd00::1", false], ["::ffff:127.0.0.1", false], ["::ffff:7f00:1", false], ["64:ff9b::a00:1", false],
    ["8.8.8.8", true], ["172.32.0.1", true], ["2606:4700:4700::1111", true], ["::ffff:8.8.8.8", true],
  ])("%s is public: %p", (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });

  test("credentials in a URL are stripped from the stored source", async () => {
    expect(stripCredentials("https://user:token@example.com/m.onnx")).toBe("https://example.com/m.onnx");
    expect(stripCredentials("/srv/models/m.onnx")).toBe("/srv/models/m.onnx");
  });
});

test("a server registering over REST stores the source without its credentials, and a refused source is 403 over REST", async () => {
  await using fixture = await startCore({ sourceHosts: "127.0.0.2", sourceAllowPrivateNetworks: "true" });
  const outside = await callApp(fixture.core.app, "POST", "/api/v1/models", { name: "leak", version: "1", task: "tensor", source: outsideFile });
  expect(outside.status).toBe(403);
  expect(outside.body).toEqual({ error: "source not allowed by policy", code: "FORBIDDEN", details: { field: "source" } });
  const modelBytes = await Bun.file(fixture.fixtures.add).bytes();
  await using server = Object.assign(Bun.serve({ hostname: "127.0.0.2", port: 0, fetch: () => new Response(modelBytes) }), { [Symbol.asyncDispose]: () => Promise.resolve() });
  try {
    const registered = await callApp(fixture.core.app, "POST", "/api/v1/models", { name: "creds", version: "1", task: "tensor", source: `http://user:hunter2@127.0.0.2:${server.port}/add.onnx` });
    expect(registered.status).toBe(201);
    expect(registered.body.versions[0].source).toBe(`http://127.0.0.2:${server.port}/add.onnx`);
    expect(JSON.stringify((await callApp(fixture.core.app, "GET", "/api/v1/models/creds")).body)).not.toContain("hunter2");
  } finally {
    await server.stop(true);
  }
}, 60_000);
