/**
 * Jobs belong to the API key that submitted them, on a real `serve` process with two infer keys and
 * one admin key, over REST, gRPC and the CLI: key A's job is invisible to key B (get, result,
 * cancel answer JOB_NOT_FOUND exactly as for a job that does not exist; B's list leaves it out),
 * while A and the admin key see it and read its answer (checked against the add reference).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { referenceAdd, writeFixtureModels } from "../fixtures/models.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

const KEYS = { a: "infer-secret-a", b: "infer-secret-b", admin: "admin-secret" } as const;
type Who = keyof typeof KEYS;
const CLI = path.join(import.meta.dir, "..", "..", "src", "cli.ts");
const POLL = { timeoutMilliseconds: 20_000, intervalMilliseconds: 50 };

const A = [1.5, -2, 3.25, 0.5];
const B = [0.25, 4, -1, 2.5];
const REST_BODY = { inputs: [{ name: "a", shape: [1, 4], datatype: "FP32", data: A }, { name: "b", shape: [1, 4], datatype: "FP32", data: B }] };
const GRPC_REQUEST = {
  model: "add",
  inputs: [
    { name: "a", datatype: "FP32", shape: [1, 4], contents: { fp32_contents: A } },
    { name: "b", datatype: "FP32", shape: [1, 4], contents: { fp32_contents: B } },
  ],
};
const REFERENCE = Array.from(referenceAdd(Float32Array.from(A), Float32Array.from(B)));

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

let directory: TemporaryDirectory;
let database: TestDatabase;
let server: ServerProcess;
let client: Client;

beforeAll(async () => {
  directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  database = await testDatabase(dataDir);
  server = await startServerProcess({
    dataDir,
    databaseUrl: database.databaseUrl,
    environment: { MODELMORA_JOB_POLL_MILLISECONDS: "50", MODELMORA_API_KEYS: `${KEYS.a}:infer,${KEYS.b}:infer,${KEYS.admin}:admin` },
  });
  expect((await rest("admin", "POST", "/api/v1/models", { name: "add", version: "1", task: "tensor", source: fixtures.add })).status).toBe(201);
  const v1 = (loadProtos(MODELMORA_PROTO_FILES).grpcObject.modelmora as grpc.GrpcObject).v1 as grpc.GrpcObject;
  client = new (v1.InferenceService as grpc.ServiceClientConstructor)(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure()) as unknown as Client;
}, 60_000);

afterAll(async () => {
  client?.close();
  await server?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

async function rest(who: Who, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.baseUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${KEYS[who]}`, ...(body !== undefined && { "content-type": "application/json" }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

function rpc(who: Who, method: string, request: object): Promise<any> {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${KEYS[who]}`);
  return new Promise((resolve, reject) => client[method]!(request, metadata, (error: grpc.ServiceError | null, response: unknown) => (error ? reject(error) : resolve(response))));
}

async function rpcFailure(promise: Promise<unknown>): Promise<{ status: grpc.status; code: unknown; details: string }> {
  try {
    await promise;
  } catch (error) {
    const serviceError = error as grpc.ServiceError;
    return { status: serviceError.code, code: serviceError.metadata.get("x-modelmora-code")[0], details: serviceError.details };
  }
  throw new Error("the call succeeded");
}

async function restSubmit(who: Who): Promise<string> {
  const accepted = await rest(who, "POST", "/api/v1/infer/add/async", REST_BODY);
  expect(accepted.status).toBe(202);
  return accepted.body.jobId;
}

async function succeeded(who: Who, jobId: string): Promise<void> {
  await waitFor(async () => ((await rest(who, "GET", `/api/v1/jobs/${jobId}`)).body.status === "succeeded" ? true : undefined), `job ${jobId} to succeed`, POLL);
}

async function listedIds(who: Who): Promise<string[]> {
  const page = await rest(who, "GET", "/api/v1/jobs?limit=500");
  expect(page.status).toBe(200);
  return page.body.jobs.map((job: { jobId: string }) => job.jobId);
}

/** What B gets for a job, with its id replaced, so it compares with the answer for a job that does not exist. */
function withoutId<T>(answer: T, jobId: string): T {
  return JSON.parse(JSON.stringify(answer).replaceAll(jobId, "JOB"));
}

describe("REST", () => {
  test("key A's job is JOB_NOT_FOUND to key B (get, result, cancel) and missing from B's list; A and admin see it and its answer", async () => {
    const jobA = await restSubmit("a");
    const jobB = await restSubmit("b");
    await succeeded("a", jobA);
    await succeeded("b", jobB);
    const missing = "00000000-0000-4000-8000-000000000000";
    for (const [method, suffix] of [["GET", ""], ["GET", "/result"], ["DELETE", ""]] as const) {
      const refused = await rest("b", method, `/api/v1/jobs/${jobA}${suffix}`);
      expect(refused.status, `${method} ${suffix} by B`).toBe(404);
      expect(refused.body.code).toBe("JOB_NOT_FOUND");
      // Indistinguishable from a job that does not exist.
      expect(withoutId(refused, jobA)).toEqual(withoutId(await rest("b", method, `/api/v1/jobs/${missing}${suffix}`), missing));
    }
    expect((await rest("a", "GET", `/api/v1/jobs/${jobB}`)).status).toBe(404);
    // B's cancel changed nothing: A still reads its answer, and so does the admin.
    for (const who of ["a", "admin"] as const) {
      const view = await rest(who, "GET", `/api/v1/jobs/${jobA}`);
      expect(view.status).toBe(200);
      expect(view.body).toMatchObject({ jobId: jobA, status: "succeeded", model: "add" });
      const result = await rest(who, "GET", `/api/v1/jobs/${jobA}/result`);
      expect(result.status).toBe(200);
      expect(result.body.outputs[0].data).toEqual(REFERENCE);
    }
    const listedByA = await listedIds("a");
    const listedByB = await listedIds("b");
    const listedByAdmin = await listedIds("admin");
    expect(listedByA).toContain(jobA);
    expect(listedByA).not.toContain(jobB);
    expect(listedByB).toContain(jobB);
    expect(listedByB).not.toContain(jobA);
    expect(listedByAdmin).toEqual(expect.arrayContaining([jobA, jobB]));
    // Every job is listed to exactly the key that submitted it (and to the admin).
    expect(new Set([...listedByA, ...listedByB])).toEqual(new Set(listedByAdmin));
    expect(listedByA.filter((id) => listedByB.includes(id))).toEqual([]);
    // A cancels its own job (finished: answered as it is); the admin may cancel B's.
    expect((await rest("a", "DELETE", `/api/v1/jobs/${jobA}`)).body).toMatchObject({ jobId: jobA, status: "succeeded" });
    expect((await rest("admin", "DELETE", `/api/v1/jobs/${jobB}`)).body).toMatchObject({ jobId: jobB, status: "succeeded" });
  });

  test("a chunked submission (the body limit rebuilds its request) belongs to its key too", async () => {
    const bytes = new TextEncoder().encode(JSON.stringify(REST_BODY));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, 10));
        controller.enqueue(bytes.subarray(10));
        controller.close();
      },
    });
    const response = await fetch(`${server.baseUrl}/api/v1/infer/add/async`, { method: "POST", headers: { authorization: `Bearer ${KEYS.b}`, "content-type": "application/json" }, body });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    await succeeded("b", jobId);
    expect((await rest("a", "GET", `/api/v1/jobs/${jobId}`)).body.code).toBe("JOB_NOT_FOUND");
    expect((await rest("admin", "GET", `/api/v1/jobs/${jobId}/result`)).body.outputs[0].data).toEqual(REFERENCE);
  });
});

describe("gRPC", () => {
  test("key A's job (submitted over gRPC or REST) is NOT_FOUND JOB_NOT_FOUND to key B on GetJob, GetJobStatus, GetJobResult, CancelJob", async () => {
    const viaGrpc = (await rpc("a", "InferAsync", GRPC_REQUEST)).job_id as string;
    const viaRest = await restSubmit("a");
    await succeeded("a", viaGrpc);
    await succeeded("a", viaRest);
    for (const jobId of [viaGrpc, viaRest]) {
      for (const method of ["GetJob", "GetJobStatus", "GetJobResult", "CancelJob"]) {
        const refused = await rpcFailure(rpc("b", method, { job_id: jobId }));
        const unknown = await rpcFailure(rpc("b", method, { job_id: "no-such-job" }));
        expect(refused, `${method} by B`).toEqual({ status: grpc.status.NOT_FOUND, code: "JOB_NOT_FOUND", details: unknown.details.replace("no-such-job", jobId) });
      }
      for (const who of ["a", "admin"] as const) {
        expect(await rpc(who, "GetJob", { job_id: jobId })).toMatchObject({ job_id: jobId, status: "succeeded", model: "add" });
        expect((await rpc(who, "GetJobResult", { job_id: jobId })).infer_response.outputs[0].contents.fp32_contents).toEqual(REFERENCE);
      }
      expect((await rpc("a", "CancelJob", { job_id: jobId })).status).toBe("succeeded");
    }
    // B's own job over gRPC is B's: A cannot see it, the admin can.
    const jobB = (await rpc("b", "InferAsync", GRPC_REQUEST)).job_id as string;
    expect((await rpcFailure(rpc("a", "GetJob", { job_id: jobB }))).code).toBe("JOB_NOT_FOUND");
    expect((await rpc("admin", "GetJob", { job_id: jobB })).job_id).toBe(jobB);
    expect(await listedIds("b")).toContain(jobB);
    expect(await listedIds("a")).not.toContain(jobB);
  });
});

describe("CLI", () => {
  test("`modelmora jobs` with --api-key reaches the key's own jobs only", async () => {
    const jobA = await restSubmit("a");
    await succeeded("a", jobA);
    const asA = await cli("list", "--api-key", KEYS.a);
    expect(asA.exitCode).toBe(0);
    expect(asA.stdout).toContain(jobA);
    const asB = await cli("list", "--api-key", KEYS.b);
    expect(asB.exitCode).toBe(0);
    expect(asB.stdout).not.toContain(jobA);
    const getAsB = await cli("get", jobA, "--api-key", KEYS.b);
    expect(getAsB.exitCode).toBe(3);
    expect(getAsB.stderr).toContain("JOB_NOT_FOUND");
    const resultAsA = await cli("result", jobA, "--api-key", KEYS.a);
    expect(JSON.parse(resultAsA.stdout).outputs[0].data).toEqual(REFERENCE);
  });
});

async function cli(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  await using child = Bun.spawn({ cmd: [process.execPath, CLI, "jobs", ...args, "--server", server.baseUrl], env: { ...process.env, MODELMORA_URL: undefined, MODELMORA_API_KEY: undefined }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}
