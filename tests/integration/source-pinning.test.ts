/**
 * DNS rebinding: a source host name is resolved once, and the fetch connects to the address that
 * was checked, never to a second DNS answer. The resolver is injected (a name whose first answer is
 * an allowed address and every later answer loopback, as a rebinding attacker's DNS would give);
 * the server is real, on 127.0.0.2 (the one address the policy exempts), and sees the URL's host in
 * its Host header. Real cache, real HTTP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Server } from "bun";
import { ModelMoraError } from "../../src/errors.ts";
import { ModelCache } from "../../src/registry/model-cache.ts";
import { pinnedRequest } from "../../src/security/pinned-fetch.ts";
import type { SourcePolicy } from "../../src/security/source-policy.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";

const MODEL_BYTES = new TextEncoder().encode("bytes behind a rebinding name");
const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

let directory: TemporaryDirectory;
let allowed: Server<undefined>;
let loopback: Server<undefined>;
const hostsSeen: string[] = [];
const loopbackHits: string[] = [];

beforeAll(async () => {
  directory = await temporaryDirectory();
  allowed = Bun.serve({ hostname: "127.0.0.2", port: 0, fetch: (request) => (hostsSeen.push(request.headers.get("host") ?? ""), new Response(MODEL_BYTES)) });
  loopback = Bun.serve({ hostname: "127.0.0.1", port: allowed.port, fetch: (request) => (loopbackHits.push(request.url), new Response("internal")) });
});

afterAll(async () => {
  await allowed?.stop(true);
  await loopback?.stop(true);
  await directory?.[Symbol.asyncDispose]();
});

/** A policy whose resolver answers `answers` in turn (the last one from then on), counting lookups. */
function rebindingPolicy(answers: string[][]): SourcePolicy & { lookups: string[] } {
  const lookups: string[] = [];
  return {
    localDirectories: [],
    hosts: ["rebind.test"],
    allowPrivateNetworks: ["127.0.0.2"],
    connectTimeoutMilliseconds: 5_000,
    idleTimeoutMilliseconds: 5_000,
    lookups,
    resolveHost: async (host) => {
      lookups.push(host);
      return answers[Math.min(lookups.length - 1, answers.length - 1)]!;
    },
  };
}

test("the fetch connects to the address that was checked, not to a later DNS answer, with the URL's Host", async () => {
  // The policy's resolver knows "rebind.test"; the system resolver does not (and a rebinding DNS
  // would answer it with loopback): the fetch can only succeed at the address the policy checked.
  const policy = rebindingPolicy([["127.0.0.2"]]);
  const cache = new ModelCache(path.join(directory.path, "data-1"), { policy, environment: {} });
  const fetched = await cache.fetch(`http://rebind.test:${allowed.port}/model.onnx`);
  expect(fetched.sha256).toBe(sha256(MODEL_BYTES));
  expect(hostsSeen.at(-1)).toBe(`rebind.test:${allowed.port}`);
  expect(loopbackHits).toEqual([]);
  expect(policy.lookups.length).toBeGreaterThan(0);
  expect(await Bun.dns.lookup("rebind.test").then(() => "resolved", () => "unresolvable")).toBe("unresolvable");
});

test("a name whose only answer is a private address is refused, whatever it answered before", async () => {
  const policy = rebindingPolicy([["127.0.0.1"]]);
  const cache = new ModelCache(path.join(directory.path, "data-2"), { policy, environment: {} });
  const error = await cache.fetch(`http://rebind.test:${allowed.port}/model.onnx`).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ModelMoraError);
  expect((error as ModelMoraError).code).toBe("FORBIDDEN");
  expect(loopbackHits).toEqual([]);
});

test("a name that does not resolve is SOURCE_UNAVAILABLE before any fetch (a later lookup could answer loopback)", async () => {
  const policy = rebindingPolicy([[], ["127.0.0.1"]]);
  const cache = new ModelCache(path.join(directory.path, "data-3"), { policy, environment: {} });
  const error = await cache.fetch(`http://rebind.test:${allowed.port}/model.onnx`).catch((caught: unknown) => caught);
  expect((error as ModelMoraError).code).toBe("SOURCE_UNAVAILABLE");
  expect(loopbackHits).toEqual([]);
});

describe("https at a pinned address", () => {
  /** A throwaway CA and a server certificate for `names`, made by the openssl CLI. */
  function certificates(names: string): { ca: string; cert: string; key: string } {
    const run = (...args: string[]) => {
      const result = Bun.spawnSync({ cmd: ["openssl", ...args], cwd: directory.path, stdio: ["ignore", "pipe", "pipe"] });
      if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${result.stderr.toString()}`);
    };
    const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run("req", "-x509", ...curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=pinning-test-ca");
    run("req", ...curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=server");
    writeFileSync(path.join(directory.path, "server.ext"), `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`);
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "server.ext");
    const read = (name: string) => readFileSync(path.join(directory.path, name), "utf8");
    return { ca: read("ca.pem"), cert: read("server.pem"), key: read("server.key") };
  }

  test("the TLS server name and the certificate check are the host name's, the connection the checked address's", async () => {
    const { ca, cert, key } = certificates("DNS:pinned.test");
    const server = Bun.serve({ hostname: "127.0.0.2", port: 0, tls: { cert, key }, fetch: (request) => new Response(`hello ${request.headers.get("host")}`) });
    try {
      const url = new URL(`https://pinned.test:${server.port}/model.onnx`);
      const response = await fetch(...pinnedRequest(url, "127.0.0.2", { headers: {}, tls: { ca } }));
      expect(await response.text()).toBe(`hello pinned.test:${server.port}`);
      // The same server for another name: its certificate does not name it, so the check refuses.
      const other = new URL(`https://other.test:${server.port}/model.onnx`);
      expect(await fetch(...pinnedRequest(other, "127.0.0.2", { headers: {}, tls: { ca } })).then(() => "answered", () => "refused")).toBe("refused");
    } finally {
      await server.stop(true);
    }
  });
});
