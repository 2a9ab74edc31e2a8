/**
 * API keys: parsing MODELMORA_API_KEYS and the hashed keys file, identification by hash, scopes,
 * and the requirement tables both transports use.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, resolveConfig } from "../../src/config.ts";
import { ApiKeys, hashApiKey } from "../../src/security/api-keys.ts";
import { authorize, grpcRequirement, restRequirement } from "../../src/security/access.ts";
import { assertListenAllowed, isLoopbackHost } from "../../src/security/listen-guard.ts";

const folder = mkdtempSync(path.join(os.tmpdir(), "modelmora-keys-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function codeOf(action: () => unknown): string {
  try {
    action();
    return "none";
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).name;
  }
}

describe("keys", () => {
  test("MODELMORA_API_KEYS entries and keys-file hashes both identify their key, by id and scope", () => {
    const file = path.join(folder, "keys");
    writeFileSync(file, `# operators\nadmin:${hashApiKey("from-file")}:ops\n\ninfer:${hashApiKey("client-key")}\n`);
    const keys = ApiKeys.from({ apiKeys: "env:key:with:colons:admin, second:infer", apiKeysFile: file });
    expect(keys.enabled).toBe(true);
    expect(keys.identify("env:key:with:colons")).toEqual({ keyId: `key-${hashApiKey("env:key:with:colons").slice(0, 8)}`, scope: "admin" });
    expect(keys.identify("second")?.scope).toBe("infer");
    expect(keys.identify("from-file")).toEqual({ keyId: "ops", scope: "admin" });
    expect(keys.identify("client-key")?.scope).toBe("infer");
    expect(keys.identify("secon")).toBeUndefined();
    expect(keys.identify(hashApiKey("from-file"))).toBeUndefined(); // the stored hash is not a key
  });

  test("malformed entries are a ConfigError that never echoes the key", () => {
    for (const apiKeys of ["s3cret-value", "s3cret-value:root", ":admin"]) {
      let error: unknown;
      try {
        ApiKeys.from({ apiKeys, apiKeysFile: undefined });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).not.toContain("s3cret-value");
    }
    const file = path.join(folder, "bad-keys");
    writeFileSync(file, "admin:plaintext-key\n");
    expect(() => ApiKeys.from({ apiKeys: undefined, apiKeysFile: file })).toThrow(/line 1/);
    expect(() => ApiKeys.from({ apiKeys: undefined, apiKeysFile: path.join(folder, "absent") })).toThrow(ConfigError);
  });

  test("no keys configured: authentication is off and every caller is the anonymous admin", () => {
    const keys = ApiKeys.from({ apiKeys: undefined, apiKeysFile: undefined });
    expect(keys.enabled).toBe(false);
    expect(authorize(keys, undefined, "admin")).toEqual({ keyId: "anonymous", scope: "admin" });
  });
});

describe("authorize", () => {
  const keys = ApiKeys.from({ apiKeys: "a-key:admin,i-key:infer", apiKeysFile: undefined });
  test.each([
    ["open", undefined, "none"],
    ["open", "Bearer wrong", "none"],
    ["infer", undefined, "UNAUTHENTICATED"],
    ["infer", "Bearer wrong", "UNAUTHENTICATED"],
    ["infer", "Basic i-key", "UNAUTHENTICATED"],
    ["infer", "Bearer i-key", "none"],
    ["infer", "bearer a-key", "none"],
    ["admin", "Bearer i-key", "FORBIDDEN"],
    ["admin", "Bearer a-key", "none"],
  ] as const)("%s with %p → %s", (requirement, header, expected) => {
    expect(codeOf(() => authorize(keys, header, requirement))).toBe(expected);
  });
});

describe("requirements", () => {
  const open = new Set(["/health/live", "/health/ready", "/metrics"]);
  test("REST: registry, worker control and status details need admin; inference infer; probes nothing", () => {
    expect(restRequirement("GET", "/health/live", open)).toBe("open");
    expect(restRequirement("GET", "/metrics", open)).toBe("open");
    expect(restRequirement("GET", "/health/models", open)).toBe("admin");
    expect(restRequirement("GET", "/api/v1/models/", open)).toBe("admin");
    expect(restRequirement("POST", "/api/v1/models/m/load", open)).toBe("admin");
    expect(restRequirement("GET", "/api/v1/status", open)).toBe("admin");
    expect(restRequirement("POST", "/api/v1/infer/m", open)).toBe("infer");
    expect(restRequirement("POST", "/v2/models/m/infer", open)).toBe("infer");
    expect(restRequirement("GET", "/health/live", new Set())).toBe("infer"); // configurable
  });

  test("gRPC: registry and management need admin, health and liveness nothing, the rest infer", () => {
    expect(grpcRequirement("/grpc.health.v1.Health/Check")).toBe("open");
    expect(grpcRequirement("/modelmora.v1.RegistryService/RegisterModel")).toBe("admin");
    expect(grpcRequirement("/modelmora.v1.ManagementService/GetSystemStatus")).toBe("admin");
    expect(grpcRequirement("/inference.GRPCInferenceService/ModelInfer")).toBe("infer");
    expect(grpcRequirement("/unknown.Service/Method")).toBe("infer");
  });
});

describe("listen guard and settings", () => {
  test("loopback hosts need no keys; anything else needs keys or MODELMORA_ALLOW_UNAUTHENTICATED", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ["0.0.0.0", "::", "10.0.0.5", "example.com"]) expect(isLoopbackHost(host)).toBe(false);
    expect(() => assertListenAllowed({ host: "0.0.0.0", allowUnauthenticated: false }, false)).toThrow(ConfigError);
    expect(() => assertListenAllowed({ host: "0.0.0.0", allowUnauthenticated: true }, false)).not.toThrow();
    expect(() => assertListenAllowed({ host: "0.0.0.0", allowUnauthenticated: false }, true)).not.toThrow();
  });

  test("security settings are validated like the others", () => {
    expect(resolveConfig({ allowUnauthenticated: "true", sourceIdleTimeoutSeconds: "5" })).toMatchObject({ allowUnauthenticated: true, sourceIdleTimeoutSeconds: 5 });
    expect(() => resolveConfig({ allowUnauthenticated: "yes" })).toThrow(/allowUnauthenticated/);
    expect(() => resolveConfig({ tlsCert: "/c.pem" })).toThrow(/tlsKey/);
    expect(() => resolveConfig({ sourceConnectTimeoutSeconds: "0" })).toThrow(/sourceConnectTimeoutSeconds/);
  });
});
