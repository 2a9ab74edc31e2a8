/**
 * Jobs survive SIGKILL: a real `modelmora serve` is killed while jobs are queued and running, a new
 * one starts on the same data (embedded SQLite, or the same PostgreSQL database when DATABASE_URL is
 * set), and every job succeeds exactly once with the reference answer. A job whose server keeps
 * dying is retried until maxAttempts, then failed.
 *
 * On SQLite the restarted server recovers running jobs at once (it is the file's only user); on
 * PostgreSQL it waits for their lease (2 s here) to expire.
 */
import { expect, test } from "bun:test";
import path from "node:path";
import { referenceSlow } from "../fixtures/models.ts";
import { jsonCall, listAllJobs, submitJob, succeededJobIds, waitAllSettled } from "../support/jobs-client.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { fixtureModelsPerFile } from "../support/fixture-models-per-file.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

/** The slow fixture sums 2048 equal rows in float32: exact for these inputs (multiples of 1/8 up to 2). */
const TOLERANCE = 1e-3;
const SETTLE_BOUND_MILLISECONDS = 120_000;
const POLL = { timeoutMilliseconds: 60_000, intervalMilliseconds: 20 };
const JOB_ENVIRONMENT = {
  MODELMORA_JOB_LEASE_SECONDS: "2",
  MODELMORA_JOB_POLL_MILLISECONDS: "100",
  MODELMORA_JOB_RETRY_BASE_SECONDS: "0.2",
  MODELMORA_JOB_CONCURRENCY: "2",
};

const shared = fixtureModelsPerFile();

/** Distinct inputs per job, so an answer given to the wrong job would show. */
function slowInput(job: number): Float32Array {
  return Float32Array.from({ length: 512 }, (_, index) => ((index + job * 37) % 16) / 8);
}

function slowBody(x: Float32Array) {
  return { inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: Array.from(x) }] };
}

async function killed(server: ServerProcess): Promise<void> {
  server.process.kill("SIGKILL");
  await server.process.exited;
}

function expectSlowAnswer(answer: { outputs: { data: number[] }[] }, job: number): void {
  const reference = referenceSlow(slowInput(job));
  const data = answer.outputs[0]!.data;
  expect(data.length).toBe(reference.length);
  const worst = Math.max(...data.map((value, index) => Math.abs(value - reference[index]!)));
  expect(worst).toBeLessThanOrEqual(TOLERANCE);
}

test("a server killed with jobs queued and running: restarted on the same data, every job succeeds exactly once with the right answer", async () => {
  const dataDir = path.join(shared.directory.path, "restart");
  await using database = await testDatabase(dataDir);
  const start = () => startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: JOB_ENVIRONMENT });
  const first = await start();
  const servers = [first];
  try {
    const registered = await jsonCall(first.baseUrl, "POST", "/api/v1/models", { name: "slow", version: "1", task: "tensor", source: shared.fixtures.slow, config: { replicas: 1 } });
    expect(registered.status).toBe(201);
    const count = 6;
    const ids: string[] = [];
    for (let job = 0; job < count; job++) ids.push(await submitJob(first.baseUrl, "slow", slowBody(slowInput(job))));
    await waitFor(
      async () => {
        const statuses = (await listAllJobs(first.baseUrl)).map((job) => job.status);
        return statuses.includes("running") && statuses.includes("queued");
      },
      "jobs to be running and queued at once",
      POLL,
    );
    await killed(first);
    const second = await start();
    servers.push(second);
    const settled = await waitAllSettled(second.baseUrl, "every job to finish after the restart", SETTLE_BOUND_MILLISECONDS);
    expect(settled.map((job) => job.status)).toEqual(Array(count).fill("succeeded"));
    expect(settled.some((job) => job.attempts > 1)).toBe(true);
    const written = succeededJobIds(servers);
    expect(written.toSorted()).toEqual(ids.toSorted());
    for (const [job, id] of ids.entries()) expectSlowAnswer((await jsonCall(second.baseUrl, "GET", `/api/v1/jobs/${id}/result`)).body, job);
  } finally {
    for (const server of servers) await server[Symbol.asyncDispose]();
  }
}, 180_000);

test("a job whose server dies at every attempt is retried up to maxAttempts, then failed", async () => {
  const dataDir = path.join(shared.directory.path, "max-attempts");
  await using database = await testDatabase(dataDir);
  const start = () => startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: { ...JOB_ENVIRONMENT, MODELMORA_JOB_MAX_ATTEMPTS: "2" } });
  let server = await start();
  try {
    await jsonCall(server.baseUrl, "POST", "/api/v1/models", { name: "slow", version: "1", task: "tensor", source: shared.fixtures.slow, config: { replicas: 1 } });
    const id = await submitJob(server.baseUrl, "slow", slowBody(slowInput(0)));
    for (let attempt = 1; attempt <= 2; attempt++) {
      const running = await waitFor(
        async () => {
          const job = (await jsonCall(server.baseUrl, "GET", `/api/v1/jobs/${id}`)).body;
          return job.status === "running" && job.attempts === attempt ? job : undefined;
        },
        `attempt ${attempt} to be running`,
        POLL,
      );
      expect(running.attempts).toBe(attempt);
      await killed(server);
      server = await start();
    }
    const failed = await waitFor(
      async () => {
        const job = (await jsonCall(server.baseUrl, "GET", `/api/v1/jobs/${id}`)).body;
        return job.status === "failed" ? job : undefined;
      },
      "the job to fail after its last attempt",
      POLL,
    );
    expect(failed).toMatchObject({ attempts: 2, maxAttempts: 2, error: { code: "INFERENCE_FAILED" } });
    expect(await jsonCall(server.baseUrl, "GET", `/api/v1/jobs/${id}/result`)).toMatchObject({ status: 500, body: { code: "INFERENCE_FAILED" } });
  } finally {
    await server[Symbol.asyncDispose]();
  }
}, 180_000);
