/**
 * Several `modelmora serve` replicas on one PostgreSQL (DATABASE_URL set, CI's second pass): they
 * start together on an empty database (migrations under an advisory lock), and share 500 jobs so
 * that each is done exactly once, also when one replica is SIGKILLed midway (its leases expire and
 * the other takes its jobs). On the embedded database (first pass) replicas cannot share: a second
 * server on the same data directory is refused, so a job has one runner.
 */
import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { referenceAdd } from "../fixtures/models.ts";
import { jsonCall, listAllJobs, submitJob, succeededJobIds } from "../support/jobs-client.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { fixtureModelsPerFile } from "../support/fixture-models-per-file.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

const JOB_COUNT = 500;
const CONCURRENCY = 8;
/** The add fixture is exact in float32 for these small integers. */
const TOLERANCE = 1e-6;
const JOB_ENVIRONMENT = {
  MODELMORA_JOB_LEASE_SECONDS: "2",
  MODELMORA_JOB_POLL_MILLISECONDS: "50",
  MODELMORA_JOB_RETRY_BASE_SECONDS: "0.2",
  MODELMORA_JOB_CONCURRENCY: String(CONCURRENCY),
};
/** Well under the registry's 2 s resolve cache: only a NOTIFY makes a replica see a switch this soon. */
const NOTIFY_BOUND_MILLISECONDS = 1_000;
const POLL = { timeoutMilliseconds: 150_000, intervalMilliseconds: 100 };

const shared = fixtureModelsPerFile();

function addBody(job: number) {
  return {
    inputs: [
      { name: "a", shape: [1, 4], datatype: "FP32", data: [job, job + 1, job + 2, job + 3] },
      { name: "b", shape: [1, 4], datatype: "FP32", data: [1, -2, 3, -4] },
    ],
  };
}

async function succeededCount(baseUrl: string): Promise<number> {
  return (await jsonCall(baseUrl, "GET", `/api/v1/jobs?status=succeeded&limit=500`)).body.jobs.length;
}

if (process.env.DATABASE_URL) {
  test("two replicas started at the same moment on an empty database both come up (migrations under an advisory lock)", async () => {
    for (let round = 0; round < 2; round++) {
      const dataDirs = [path.join(shared.directory.path, `together-${round}-a`), path.join(shared.directory.path, `together-${round}-b`)];
      await using database = await testDatabase(dataDirs[0]!);
      const servers = await Promise.allSettled(dataDirs.map((dataDir) => startServerProcess({ dataDir, databaseUrl: database.databaseUrl })));
      try {
        expect(servers.map((server) => server.status)).toEqual(["fulfilled", "fulfilled"]);
        for (const server of servers) if (server.status === "fulfilled") expect((await jsonCall(server.value.baseUrl, "GET", "/api/v1/jobs")).status).toBe(200);
      } finally {
        for (const server of servers) if (server.status === "fulfilled") await server.value[Symbol.asyncDispose]();
      }
    }
  }, 120_000);

  test(`two replicas on one PostgreSQL do ${JOB_COUNT} jobs, each exactly once with the right answer, while one of them is SIGKILLed midway`, async () => {
    const dataDirs = [path.join(shared.directory.path, "replica-a"), path.join(shared.directory.path, "replica-b")];
    await using database = await testDatabase(dataDirs[0]!);
    // Shared model files (the source under MODELMORA_SOURCE_DIRS); each replica has its own cache.
    const [first, second] = (await Promise.all(dataDirs.map((dataDir) => startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: JOB_ENVIRONMENT })))) as [ServerProcess, ServerProcess];
    try {
      expect((await jsonCall(first.baseUrl, "POST", "/api/v1/models", { name: "add", version: "1", task: "tensor", source: shared.fixtures.add })).status).toBe(201);
      const ids: string[] = [];
      const submissions = Array.from({ length: JOB_COUNT }, (_, job) => submitJob((job % 2 === 0 ? first : second).baseUrl, "add", addBody(job)));
      ids.push(...(await Promise.all(submissions)));
      await waitFor(async () => (await succeededCount(second.baseUrl)) >= JOB_COUNT / 4, "a quarter of the jobs to succeed", POLL);
      first.process.kill("SIGKILL");
      await first.process.exited;
      const killedWrote = succeededJobIds([first]).length;
      expect(killedWrote).toBeGreaterThan(0);
      await waitFor(async () => (await succeededCount(second.baseUrl)) === JOB_COUNT || undefined, `all ${JOB_COUNT} jobs to succeed`, POLL);
      const jobs = await listAllJobs(second.baseUrl);
      expect(jobs.length).toBe(JOB_COUNT);
      expect(jobs.every((job) => job.status === "succeeded")).toBe(true);
      // No result written twice: a job id is in at most one job_succeeded line across both replicas.
      // The killed replica may have committed a result and died before printing its line (at most
      // its CONCURRENCY jobs in flight), so a few ids may be missing from the lines, never doubled.
      const written = succeededJobIds([first, second]);
      expect(new Set(written).size).toBe(written.length);
      expect(written.length).toBeGreaterThanOrEqual(JOB_COUNT - CONCURRENCY);
      expect(written.length).toBeLessThanOrEqual(JOB_COUNT);
      expect(written.every((id) => ids.includes(id))).toBe(true);
      expect(succeededJobIds([second]).length).toBeGreaterThan(0);
      for (const [job, id] of ids.entries()) {
        const result = (await jsonCall(second.baseUrl, "GET", `/api/v1/jobs/${id}/result`)).body;
        const body = addBody(job);
        const reference = referenceAdd(Float32Array.from(body.inputs[0]!.data), Float32Array.from(body.inputs[1]!.data));
        result.outputs[0].data.forEach((value: number, index: number) => expect(Math.abs(value - reference[index]!)).toBeLessThanOrEqual(TOLERANCE));
      }
    } finally {
      await first[Symbol.asyncDispose]();
      await second[Symbol.asyncDispose]();
    }
  }, 240_000);

  test("a replica with an empty cache serves a model registered through another (fetch-on-miss, verified by sha256), and sees a version switch at once (LISTEN/NOTIFY)", async () => {
    const dataDirs = [path.join(shared.directory.path, "notify-a"), path.join(shared.directory.path, "notify-b")];
    await using database = await testDatabase(dataDirs[0]!);
    const source = path.join(shared.directory.path, "fixtures", "add-copy.onnx");
    await copyFile(shared.fixtures.add, source);
    const [a, b] = (await Promise.all(dataDirs.map((dataDir) => startServerProcess({ dataDir, databaseUrl: database.databaseUrl })))) as [ServerProcess, ServerProcess];
    try {
      const registered = await jsonCall(a.baseUrl, "POST", "/api/v1/models", { name: "add", version: "1", task: "tensor", source });
      expect(registered.status).toBe(201);
      const sha256 = registered.body.versions[0].sha256;
      expect(sha256).toBe(createHash("sha256").update(await readFile(shared.fixtures.add)).digest("hex"));
      expect(existsSync(path.join(dataDirs[1]!, "models", "sha256", sha256))).toBe(false);
      const answer = await jsonCall(b.baseUrl, "POST", "/api/v1/infer/add", addBody(7));
      expect(answer.status).toBe(200);
      const reference = referenceAdd(Float32Array.from(addBody(7).inputs[0]!.data), Float32Array.from(addBody(7).inputs[1]!.data));
      expect(answer.body.outputs[0].data).toEqual(Array.from(reference));
      expect(createHash("sha256").update(await readFile(path.join(dataDirs[1]!, "models", "sha256", sha256))).digest("hex")).toBe(sha256);

      // B has just resolved version 1 (its cache would hold it for 2 s); A registers and switches to 2.
      expect((await jsonCall(a.baseUrl, "POST", "/api/v1/models", { name: "add", version: "2", task: "tensor", source })).status).toBe(201);
      // Version 2's worker is started on B first, so the wait below measures the switch, not a model load.
      expect((await jsonCall(b.baseUrl, "POST", "/api/v1/models/add/load?version=2")).status).toBe(200);
      expect((await jsonCall(b.baseUrl, "POST", "/api/v1/infer/add", addBody(1))).body.model_version).toBe("1");
      const switchedAt = performance.now();
      expect((await jsonCall(a.baseUrl, "POST", "/api/v1/models/add/versions/2")).status).toBe(200);
      await waitFor(async () => (await jsonCall(b.baseUrl, "POST", "/api/v1/infer/add", addBody(1))).body.model_version === "2" || undefined, "B to answer with version 2", { timeoutMilliseconds: 5_000, intervalMilliseconds: 10 });
      expect(performance.now() - switchedAt).toBeLessThan(NOTIFY_BOUND_MILLISECONDS);

      // A source that changed since registration is refused on a miss: the sha256 no longer matches.
      await copyFile(shared.fixtures.matmulRelu, source);
      await rm(path.join(dataDirs[1]!, "models"), { recursive: true, force: true });
      await jsonCall(a.baseUrl, "PUT", "/api/v1/models/add", { config: { maxBatchSize: 8 } });
      const refused = await waitFor(async () => {
        const attempt = await jsonCall(b.baseUrl, "POST", "/api/v1/infer/add", addBody(1));
        return attempt.status === 200 ? undefined : attempt;
      }, "B to refuse the changed source", { timeoutMilliseconds: 5_000, intervalMilliseconds: 10 });
      expect(refused.body.code).toBe("CHECKSUM_MISMATCH");
    } finally {
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
    }
  }, 120_000);
} else {
  test("on the embedded database a second server on the same data directory is refused, so every job has one runner", async () => {
    const dataDir = path.join(shared.directory.path, "embedded");
    await using server = await startServerProcess({ dataDir });
    const refused = await startServerProcess({ dataDir }).then(
      async (unexpected) => {
        await unexpected[Symbol.asyncDispose]();
        return "started";
      },
      (error: Error) => error.message,
    );
    expect(refused).toContain(`data directory ${dataDir} (--data-dir / MODELMORA_DATA_DIR) is in use by process ${server.process.pid}`);
    expect((await jsonCall(server.baseUrl, "GET", "/api/v1/jobs")).status).toBe(200);
  }, 60_000);
}
