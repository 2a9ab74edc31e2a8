/**
 * API keys end to end, on a real `serve` process over real sockets: every REST route and every
 * gRPC method × no key / wrong key / infer key / admin key, the audit lines admin actions leave, and
 * the refusal to listen beyond loopback without keys.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { Client, Metadata, type ServiceError, credentials, status } from "@grpc/grpc-js";
import { hashApiKey } from "../../src/security/api-keys.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";

const ADMIN_KEY = "admin-secret-1";
const INFER_KEY = "infer-secret-1";
const keyIdOf = (key: string) => `key-${hashApiKey(key).slice(0, 8)}`;

type Requirement = "open" | "infer" | "admin";
type Credential = "none" | "wrong" | "infer" | "admin";
const CREDENTIALS: Credential[] = ["none", "wrong", "infer", "admin"];
const HEADER: Record<Credential, string | undefined> = { none: undefined, wrong: "Bearer not-a-key", infer: `Bearer ${INFER_KEY}`, admin: `Bearer ${ADMIN_KEY}` };

/** What a caller with `credential` gets on a route needing `requirement`: refused with 401/403, or let through. */
function expected(requirement: Requirement, credential: Credential): "UNAUTHENTICATED" | "FORBIDDEN" | "allowed" {
  if (requirement === "open" || credential === "admin") return "allowed";
  if (credential === "none" || credential === "wrong") return "UNAUTHENTICATED";
  return requirement === "admin" ? "FORBIDDEN" : "allowed";
}

const REST_ROUTES: [string, string, Requirement][] = [
  ["GET", "/health/live", "open"],
  ["GET", "/health/ready", "open"],
  ["GET", "/v2/health/live", "open"],
  ["GET", "/v2/health/ready", "open"],
  ["GET", "/health/models", "admin"],
  ["POST", "/api/v1/models", "admin"],
  ["GET", "/api/v1/models", "admin"],
  ["GET", "/api/v1/models/absent", "admin"],
  ["PUT", "/api/v1/models/absent", "admin"],
  ["DELETE", "/api/v1/models/absent", "admin"],
  ["POST", "/api/v1/models/absent/versions/1", "admin"],
  ["POST", "/api/v1/models/absent/load", "admin"],
  ["POST", "/api/v1/models/absent/unload", "admin"],
  ["GET", "/api/v1/status", "admin"],
  ["POST", "/api/v1/infer/absent", "infer"],
  ["GET", "/v2", "infer"],
  ["GET", "/v2/models/absent", "infer"],
  ["GET", "/v2/models/absent/versions/1", "infer"],
  ["GET", "/v2/models/absent/ready", "infer"],
  ["GET", "/v2/models/absent/versions/1/ready", "infer"],
  ["POST", "/v2/models/absent/infer", "infer"],
  ["POST", "/v2/models/absent/versions/1/infer", "infer"],
  ["GET", "/swagger/json", "infer"],
  ["POST", "/api/v1/infer/absent/async", "infer"],
  ["GET", "/api/v1/jobs", "infer"],
  ["GET", "/api/v1/jobs/absent", "infer"],
  ["GET", "/api/v1/jobs/absent/result", "infer"],
  ["DELETE", "/api/v1/jobs/absent", "infer"],
  ["POST", "/api/v1/generate/absent", "infer"],
  ["POST", "/v1/chat/completions", "infer"],
  ["POST", "/v1/completions", "infer"],
  ["POST", "/v1/embeddings", "infer"],
  ["GET", "/v1/models", "infer"],
  ["POST", "/embed", "infer"],
  ["POST", "/tokenize", "infer"],
];

type Kind = "unary" | "server-stream" | "bidi";
const GRPC_METHODS: [string, Kind, Requirement][] = [
  ["/grpc.health.v1.Health/Check", "unary", "open"],
  ["/grpc.health.v1.Health/Watch", "server-stream", "open"],
  ["/inference.GRPCInferenceService/ServerLive", "unary", "open"],
  ["/inference.GRPCInferenceService/ServerReady", "unary", "open"],
  ["/inference.GRPCInferenceService/ModelReady", "unary", "infer"],
  ["/inference.GRPCInferenceService/ServerMetadata", "unary", "infer"],
  ["/inference.GRPCInferenceService/ModelMetadata", "unary", "infer"],
  ["/inference.GRPCInferenceService/ModelInfer", "unary", "infer"],
  ["/inference.GRPCInferenceService/ModelStreamInfer", "bidi", "infer"],
  ["/modelmora.v1.InferenceService/Infer", "unary", "infer"],
  ["/modelmora.v1.InferenceService/InferStream", "bidi", "infer"],
  ["/modelmora.v1.InferenceService/StreamInference", "server-stream", "infer"],
  ["/modelmora.v1.InferenceService/Embed", "unary", "infer"],
  ["/modelmora.v1.InferenceService/Ocr", "unary", "infer"],
  ["/modelmora.v1.InferenceService/Generate", "server-stream", "infer"],
  ["/modelmora.v1.InferenceService/InferAsync", "unary", "infer"],
  ["/modelmora.v1.InferenceService/GetJob", "unary", "infer"],
  ["/modelmora.v1.InferenceService/GetJobStatus", "unary", "infer"],
  ["/modelmora.v1.InferenceService/GetJobResult", "unary", "infer"],
  ["/modelmora.v1.InferenceService/CancelJob", "unary", "infer"],
  ["/modelmora.v1.ManagementService/Live", "unary", "open"],
  ["/modelmora.v1.ManagementService/Ready", "unary", "open"],
  ["/modelmora.v1.ManagementService/LoadModel", "unary", "admin"],
  ["/modelmora.v1.ManagementService/UnloadModel", "unary", "admin"],
  ["/modelmora.v1.ManagementService/GetSystemStatus", "unary", "admin"],
  ["/modelmora.v1.ManagementService/GetModelHealth", "unary", "admin"],
  ["/modelmora.v1.RegistryService/RegisterModel", "unary", "admin"],
  ["/modelmora.v1.RegistryService/ListModels", "unary", "admin"],
  ["/modelmora.v1.RegistryService/GetModel", "unary", "admin"],
  ["/modelmora.v1.RegistryService/UpdateModelConfig", "unary", "admin"],
  ["/modelmora.v1.RegistryService/DeleteModel", "unary", "admin"],
  ["/modelmora.v1.RegistryService/SetActiveVersion", "unary", "admin"],
  ["/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "bidi", "infer"],
];

let directory: TemporaryDirectory;
let database: Awaited<ReturnType<typeof testDatabase>>;
let server: ServerProcess;
let client: Client;

beforeAll(async () => {
  directory = await temporaryDirectory();
  const dataDir = path.join(directory.path, "data");
  database = await testDatabase(dataDir);
  server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: { MODELMORA_API_KEYS: `${ADMIN_KEY}:admin,${INFER_KEY}:infer` } });
  client = new Client(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
}, 60_000);

afterAll(async () => {
  client?.close();
  await server?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

describe("REST: every route × no key, wrong key, infer key, admin key", () => {
  for (const [method, route, requirement] of REST_ROUTES) {
    test(`${method} ${route} needs ${requirement}`, async () => {
      for (const credential of CREDENTIALS) {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (HEADER[credential]) headers.authorization = HEADER[credential]!;
        const response = await fetch(`${server.baseUrl}${route}`, { method, headers, body: method === "GET" ? undefined : "{}" });
        const body = await response.text();
        const outcome = expected(requirement, credential);
        const where = `${method} ${route} with ${credential} key: ${response.status} ${body.slice(0, 200)}`;
        if (outcome === "allowed") expect([401, 403], where).not.toContain(response.status);
        else {
          expect(response.status, where).toBe(outcome === "UNAUTHENTICATED" ? 401 : 403);
          expect(JSON.parse(body).code, where).toBe(outcome);
        }
      }
    });
  }
});

/** Calls `path` with an empty message (valid for every message type) and answers the final status code. */
function callStatus(methodPath: string, kind: Kind, authorization: string | undefined): Promise<{ code: status; domainCode: string | undefined }> {
  const metadata = new Metadata();
  if (authorization) metadata.set("authorization", authorization);
  const identity = (value: Buffer) => value;
  const options = { deadline: Date.now() + 3_000 };
  return new Promise((resolve) => {
    const settle = (code: status, trailing?: Metadata) => resolve({ code, domainCode: trailing?.get("x-modelmora-code")[0]?.toString() });
    if (kind === "unary") {
      client.makeUnaryRequest(methodPath, identity, identity, Buffer.alloc(0), metadata, options, (error: ServiceError | null) => settle(error ? error.code : status.OK, error?.metadata));
      return;
    }
    const call =
      kind === "server-stream"
        ? client.makeServerStreamRequest(methodPath, identity, identity, Buffer.alloc(0), metadata, options)
        : client.makeBidiStreamRequest(methodPath, identity, identity, metadata, options);
    call.on("data", () => {});
    call.on("error", () => {});
    call.on("status", (final) => settle(final.code, final.metadata));
    if (kind === "bidi") (call as ReturnType<Client["makeBidiStreamRequest"]>).end();
  });
}

describe("gRPC: every method × no key, wrong key, infer key, admin key", () => {
  for (const [methodPath, kind, requirement] of GRPC_METHODS) {
    test(`${methodPath} needs ${requirement}`, async () => {
      for (const credential of CREDENTIALS) {
        const { code, domainCode } = await callStatus(methodPath, kind, HEADER[credential]);
        const outcome = expected(requirement, credential);
        const where = `${methodPath} with ${credential} key: ${status[code]} ${domainCode ?? ""}`;
        if (outcome === "allowed") expect([status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.UNIMPLEMENTED], where).not.toContain(code);
        else {
          expect(code, where).toBe(outcome === "UNAUTHENTICATED" ? status.UNAUTHENTICATED : status.PERMISSION_DENIED);
          expect(domainCode, where).toBe(outcome);
        }
      }
    });
  }
});

test("admin actions leave audit lines with the key id (never the key), the action and the result", async () => {
  await fetch(`${server.baseUrl}/api/v1/models/absent`, { method: "DELETE", headers: { authorization: `Bearer ${INFER_KEY}` } });
  await fetch(`${server.baseUrl}/api/v1/models/absent`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  await callStatus("/modelmora.v1.RegistryService/DeleteModel", "unary", `Bearer ${ADMIN_KEY}`);
  const audits = () => server.logs.filter((line) => line.event === "audit");
  await server.waitForLog((line) => line.event === "audit" && line.transport === "grpc" && line.action === "/modelmora.v1.RegistryService/DeleteModel" && line.key_id === keyIdOf(ADMIN_KEY));
  expect(audits()).toContainEqual(expect.objectContaining({ key_id: keyIdOf(INFER_KEY), transport: "rest", action: "DELETE /api/v1/models/absent", result: "403" }));
  expect(audits()).toContainEqual(expect.objectContaining({ key_id: keyIdOf(ADMIN_KEY), transport: "rest", action: "DELETE /api/v1/models/absent", result: "404" }));
  const text = JSON.stringify(server.logs);
  expect(text).not.toContain(ADMIN_KEY);
  expect(text).not.toContain(INFER_KEY);
  // Inference routes are not admin actions.
  expect(audits().some((line) => String(line.action).includes("/infer"))).toBe(false);
});

describe("listening beyond loopback", () => {
  async function serveOn(host: string, environment: Record<string, string | undefined>) {
    await using scratch = await temporaryDirectory();
    const child = Bun.spawn({
      cmd: [process.execPath, path.join(import.meta.dir, "..", "..", "src", "cli.ts"), "serve", "--host", host, "--port", "0", "--grpc-port", "0", "--data-dir", scratch.path],
      env: { ...process.env, DATABASE_URL: undefined, MODELMORA_API_KEYS: undefined, ...environment },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const [stdout, stderr] = await Promise.all([readUntilListening(child.stdout, child), new Response(child.stderr).text()]);
    return { exitCode: await child.exited, stdout, stderr };
  }

  /** Reads stdout; once the listening line appears the server is stopped with SIGTERM. */
  async function readUntilListening(stream: ReadableStream<Uint8Array>, child: { kill(signal: "SIGTERM"): void }): Promise<string> {
    let text = "";
    for await (const chunk of stream) {
      text += new TextDecoder().decode(chunk);
      if (text.includes('"event":"listening"')) child.kill("SIGTERM");
    }
    return text;
  }

  test("without keys, 0.0.0.0 is refused with a usage error naming the remedies", async () => {
    const { exitCode, stdout, stderr } = await serveOn("0.0.0.0", {});
    expect(exitCode).toBe(2);
    expect(stdout).not.toContain('"event":"listening"');
    expect(stderr).toContain("MODELMORA_API_KEYS");
    expect(stderr).toContain("MODELMORA_ALLOW_UNAUTHENTICATED");
  }, 60_000);

  test("MODELMORA_ALLOW_UNAUTHENTICATED=true, or a key, lets it listen on 0.0.0.0", async () => {
    for (const environment of [{ MODELMORA_ALLOW_UNAUTHENTICATED: "true" }, { MODELMORA_API_KEYS: `${ADMIN_KEY}:admin` }] as Record<string, string>[]) {
      const { stdout } = await serveOn("0.0.0.0", environment);
      expect(stdout).toContain('"event":"listening"');
    }
  }, 60_000);
});

describe("the CLI", () => {
  async function cli(args: string[], environment: Record<string, string | undefined> = {}) {
    const child = Bun.spawn({
      cmd: [process.execPath, path.join(import.meta.dir, "..", "..", "src", "cli.ts"), ...args, "--server", server.baseUrl],
      env: { ...process.env, MODELMORA_API_KEY: undefined, ...environment },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    return { stdout, stderr, exitCode };
  }

  test("sends --api-key, else MODELMORA_API_KEY; without one an admin command fails with UNAUTHENTICATED", async () => {
    const without = await cli(["list", "--json"]);
    expect(without.exitCode).toBe(1);
    expect(without.stderr).toContain("UNAUTHENTICATED");
    expect((await cli(["list", "--json", "--api-key", ADMIN_KEY])).exitCode).toBe(0);
    expect((await cli(["list", "--json"], { MODELMORA_API_KEY: ADMIN_KEY })).exitCode).toBe(0);
    const forbidden = await cli(["list", "--json", "--api-key", INFER_KEY]);
    expect(forbidden.exitCode).toBe(1);
    expect(forbidden.stderr).toContain("FORBIDDEN");
  }, 60_000);

  test("health answers ready without a key (the Docker healthcheck), leaving out the admin-only model details", async () => {
    const health = await cli(["health", "--json"]);
    expect(health.exitCode).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({ live: true, ready: "ready", models: [] });
  }, 60_000);
});
