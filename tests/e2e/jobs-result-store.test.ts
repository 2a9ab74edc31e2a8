/**
 * Large job answers (over MODELMORA_JOB_INLINE_RESULT_KB) in the result store, on real `serve`
 * processes:
 * - PostgreSQL (DATABASE_URL set): the default store is the database. Two servers on one database
 *   with their own data directories: a job run by the first is read from the second (the same answer
 *   as the second's sync route, and the slow reference), no file is written; after the TTL the job
 *   is expired and its `job_results` row is gone.
 * - Embedded (first pass): with MODELMORA_JOB_RESULT_STORE=database the answer is in the SQLite file,
 *   read back after a SIGKILL and restart, and swept after the TTL.
 * The TTL phase restarts a server with a 1 s TTL rather than racing a short one.
 */
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import path from "node:path";
import postgres from "postgres";
import { EMBEDDED_DATABASE_FILE } from "../../src/registry/database.ts";
import { referenceSlow } from "../fixtures/models.ts";
import { jsonCall, submitJob } from "../support/jobs-client.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { fixtureModelsPerFile } from "../support/fixture-models-per-file.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

/** The slow fixture sums 2048 equal rows in float32: exact for these inputs (multiples of 1/8 up to 2). */
const TOLERANCE = 1e-3;
const POLL = { timeoutMilliseconds: 60_000, intervalMilliseconds: 50 };
/** The slow model's 512 floats are ~5 kB of JSON: over a 1 kB inline limit. */
const LARGE = { MODELMORA_JOB_INLINE_RESULT_KB: "1", MODELMORA_JOB_POLL_MILLISECONDS: "50", MODELMORA_JOB_RESULT_TTL_SECONDS: "600" };
const SWEEPING = { ...LARGE, MODELMORA_JOB_RESULT_TTL_SECONDS: "1" };

const shared = fixtureModelsPerFile();

const X = Float32Array.from({ length: 512 }, (_, index) => (index % 16) / 8);
const BODY = { inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: Array.from(X) }] };

async function registerSlow(server: ServerProcess): Promise<void> {
  expect((await jsonCall(server.baseUrl, "POST", "/api/v1/models", { name: "slow", version: "1", task: "tensor", source: shared.fixtures.slow, config: { replicas: 1 } })).status).toBe(201);
}

async function finished(server: ServerProcess, id: string, status: string): Promise<any> {
  return waitFor(async () => {
    const job = (await jsonCall(server.baseUrl, "GET", `/api/v1/jobs/${id}`)).body;
    return job.status === status ? job : undefined;
  }, `job ${id} to be ${status}`, POLL);
}

/** The stored answer as served: equal to the sync route's answer and to the slow reference; its JSON is `resultSizeBytes` long. */
async function expectLargeAnswer(server: ServerProcess, id: string, job: { resultSizeBytes: number }): Promise<void> {
  const result = await jsonCall(server.baseUrl, "GET", `/api/v1/jobs/${id}/result`);
  expect(result.status).toBe(200);
  expect(Buffer.byteLength(JSON.stringify(result.body))).toBe(job.resultSizeBytes);
  expect(job.resultSizeBytes).toBeGreaterThan(1024);
  const sync = await jsonCall(server.baseUrl, "POST", "/api/v1/infer/slow", BODY);
  expect(sync.status).toBe(200);
  expect(result.body).toEqual(sync.body);
  const reference = referenceSlow(X);
  const data: number[] = result.body.outputs[0].data;
  expect(data.length).toBe(reference.length);
  expect(Math.max(...data.map((value, index) => Math.abs(value - reference[index]!)))).toBeLessThanOrEqual(TOLERANCE);
}

if (process.env.DATABASE_URL) {
  test("two servers on one PostgreSQL with their own data directories: a large answer computed by one is read from the other, then swept from the database after the TTL", async () => {
    const [dirA, dirB] = [path.join(shared.directory.path, "pg-a"), path.join(shared.directory.path, "pg-b")];
    await using database = await testDatabase(dirA);
    const sql = postgres(database.databaseUrl!, { max: 1, onnotice: () => undefined });
    const storedRows = async (id: string) => Number((await sql`select count(*)::int as n from job_results where job_id = ${id}`)[0]!.n);
    const servers: ServerProcess[] = [];
    try {
      const first = await startServerProcess({ dataDir: dirA, databaseUrl: database.databaseUrl, environment: LARGE });
      servers.push(first);
      await registerSlow(first);
      const id = await submitJob(first.baseUrl, "slow", BODY);
      const done = await finished(first, id, "succeeded");
      expect(first.logs.some((line) => line.event === "job_succeeded" && line.job_id === id)).toBe(true);
      expect(await storedRows(id)).toBe(1);
      expect(existsSync(path.join(dirA, "job-results"))).toBe(false);
      // Started after the job ended, so it cannot have run it; its data directory has no result file.
      const second = await startServerProcess({ dataDir: dirB, databaseUrl: database.databaseUrl, environment: LARGE });
      servers.push(second);
      expect((await jsonCall(second.baseUrl, "GET", `/api/v1/jobs/${id}`)).body).toEqual(done);
      await expectLargeAnswer(second, id, done);
      for (const server of servers.splice(0)) await server[Symbol.asyncDispose]();
      const sweeper = await startServerProcess({ dataDir: dirB, databaseUrl: database.databaseUrl, environment: SWEEPING });
      servers.push(sweeper);
      const expired = await finished(sweeper, id, "expired");
      expect(expired.resultSizeBytes).toBeNull();
      expect(await jsonCall(sweeper.baseUrl, "GET", `/api/v1/jobs/${id}/result`)).toMatchObject({ status: 410, body: { code: "JOB_EXPIRED" } });
      expect(await storedRows(id)).toBe(0);
    } finally {
      for (const server of servers) await server[Symbol.asyncDispose]();
      await sql.end({ timeout: 5 });
    }
  }, 180_000);
} else {
  test("the embedded database as result store: a large answer survives SIGKILL in the SQLite file and is swept after the TTL", async () => {
    const dataDir = path.join(shared.directory.path, "embedded");
    const environment = { ...LARGE, MODELMORA_JOB_RESULT_STORE: "database" };
    const storedRows = (id: string) => {
      const file = new Database(path.join(dataDir, EMBEDDED_DATABASE_FILE), { readonly: true });
      try {
        return (file.query("select count(*) as n from job_results where job_id = ?").get(id) as { n: number }).n;
      } finally {
        file.close();
      }
    };
    let server = await startServerProcess({ dataDir, environment });
    try {
      await registerSlow(server);
      const id = await submitJob(server.baseUrl, "slow", BODY);
      const done = await finished(server, id, "succeeded");
      server.process.kill("SIGKILL");
      await server.process.exited;
      expect(storedRows(id)).toBe(1);
      expect(existsSync(path.join(dataDir, "job-results"))).toBe(false);
      server = await startServerProcess({ dataDir, environment });
      await expectLargeAnswer(server, id, done);
      await server[Symbol.asyncDispose]();
      server = await startServerProcess({ dataDir, environment: { ...environment, ...SWEEPING } });
      await finished(server, id, "expired");
      expect(await jsonCall(server.baseUrl, "GET", `/api/v1/jobs/${id}/result`)).toMatchObject({ status: 410, body: { code: "JOB_EXPIRED" } });
      await server[Symbol.asyncDispose]();
      expect(storedRows(id)).toBe(0);
    } finally {
      await server[Symbol.asyncDispose]();
    }
  }, 180_000);
}
