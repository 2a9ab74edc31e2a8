/**
 * DNS rebinding: a source host name is resolved once, and the fetch connects to the address that
 * was checked, never to a second DNS answer. The resolver is injected (a name whose first answer is
 * an allowed address and every later answer loopback, as a rebinding attacker's DNS would give);
 * the server is real, on 127.0.0.2 (the one address the policy exempts), and sees the URL's host in
 * its Host header. Real cache, real HTTP.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import type { Server } from "bun";
import { ModelMoraError } from "../../src/errors.ts";
import { ModelCache } from "../../src/registry/model-cache.ts";
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
