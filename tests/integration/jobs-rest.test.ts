/**
 * The jobs REST API in process (`app.handle`) over the real core: real database (embedded SQLite,
 * or PostgreSQL when DATABASE_URL is set), real scheduler and worker processes. Answers are checked
 * against the fixture models' references and against the sync route.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import path from "node:path";
import { referenceAdd } from "../fixtures/models.ts";
import { type AppAnswer, type CoreFixture, callApp, startCore } from "../support/core-fixture.ts";
import { waitFor } from "../support/wait.ts";

/** The add fixture is exact in float32; 1e-6 leaves room for printing. */
const TOLERANCE = 1e-6;
const POLL = { timeoutMilliseconds: 20_000, intervalMilliseconds: 20 };

const A = [1.5, -2, 3.25, 0.5, 10, 20, 30, 40];
const B = [0.25, 4, -1, 2.5, 1, 2, 3, 4];
const ADD_BODY = {
  inputs: [
    { name: "a", shape: [2, 4], datatype: "FP32", data: A },
    { name: "b", shape: [2, 4], datatype: "FP32", data: B },
  ],
};

async function coreWithAdd(environment: Record<string, string> = {}): Promise<CoreFixture> {
  const fixture = await startCore({}, { environment: { MODELMORA_JOB_POLL_MILLISECONDS: "50", ...environment } });
  await fixture.core.models.register({ name: "add", version: "1", task: "tensor", source: fixture.fixtures.add });
  return fixture;
}

async function settled(fixture: CoreFixture, jobId: string): Promise<AppAnswer> {
  return waitFor(
    async () => {
      const answer = await callApp(fixture.core.app, "GET", `/api/v1/jobs/${jobId}`);
      return ["queued", "running"].includes(answer.body.status) ? undefined : answer;
    },
    `job ${jobId} to finish`,
    POLL,
  );
}

describe("a running server", () => {
  test("an async job answers 202 with links, runs, and its result is the sync answer and matches the reference", async () => {
    await using fixture = await coreWithAdd();
    const { app } = fixture.core;
    const accepted = await callApp(app, "POST", "/api/v1/infer/add/async", ADD_BODY, { "x-priority": "high" });
    expect(accepted.status).toBe(202);
    const { jobId } = accepted.body;
    expect(accepted.body).toEqual({ jobId, status: "queued", links: { self: `/api/v1/jobs/${jobId}`, result: `/api/v1/jobs/${jobId}/result` } });
    expect(accepted.headers.get("location")).toBe(`/api/v1/jobs/${jobId}`);
    const done = await settled(fixture, jobId);
    expect(done.body).toMatchObject({ jobId, status: "succeeded", model: "add", version: null, priority: 2, attempts: 1, maxAttempts: 3, error: null });
    expect(Date.parse(done.body.finishedAt)).toBeGreaterThanOrEqual(Date.parse(done.body.startedAt));
    const result = await callApp(app, "GET", `/api/v1/jobs/${jobId}/result`);
    expect(result.status).toBe(200);
    const reference = referenceAdd(Float32Array.from(A), Float32Array.from(B));
    const sum = result.body.outputs[0];
    expect(sum).toMatchObject({ name: "sum", shape: [2, 4], datatype: "FP32" });
    sum.data.forEach((value: number, index: number) => expect(Math.abs(value - reference[index]!)).toBeLessThanOrEqual(TOLERANCE));
    const sync = await callApp(app, "POST", "/api/v1/infer/add", ADD_BODY);
    expect(result.body).toEqual(sync.body);
  });

  test("a job whose inputs do not fit fails once, without retry, and its result is the sync route's error", async () => {
    await using fixture = await coreWithAdd();
    const { app } = fixture.core;
    const body = { inputs: [{ name: "a", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }, ADD_BODY.inputs[1]] };
    const accepted = await callApp(app, "POST", "/api/v1/infer/add/async", body);
    const done = await settled(fixture, accepted.body.jobId);
    expect(done.body).toMatchObject({ status: "failed", attempts: 1, error: { code: "INVALID_INPUT" } });
    const result = await callApp(app, "GET", `/api/v1/jobs/${accepted.body.jobId}/result`);
    const sync = await callApp(app, "POST", "/api/v1/infer/add", body);
    expect(result.status).toBe(400);
    expect(result.body.code).toBe("INVALID_INPUT");
    expect(result.body.error).toBe(sync.body.error);
  });

  test("an unknown model is refused at submission (404 MODEL_NOT_FOUND); an unknown job is 404 JOB_NOT_FOUND everywhere", async () => {
    await using fixture = await coreWithAdd();
    const { app } = fixture.core;
    expect(await callApp(app, "POST", "/api/v1/infer/nope/async", ADD_BODY)).toMatchObject({ status: 404, body: { code: "MODEL_NOT_FOUND" } });
    for (const [method, route] of [
      ["GET", "/api/v1/jobs/missing"],
      ["GET", "/api/v1/jobs/missing/result"],
      ["DELETE", "/api/v1/jobs/missing"],
    ] as const) {
      expect(await callApp(app, method, route)).toMatchObject({ status: 404, body: { code: "JOB_NOT_FOUND" } });
    }
    expect((await callApp(app, "GET", "/api/v1/jobs")).body).toEqual({ jobs: [], nextOffset: null, links: { next: null } });
  });
});

describe("a server that does not claim", () => {
  test("a queued job's result is 409 JOB_NOT_READY; cancelled, it is 409 JOB_CANCELLED; the list filters by status and model and pages", async () => {
    await using fixture = await coreWithAdd();
    fixture.core.jobs.stopClaiming();
    const { app } = fixture.core;
    const ids: string[] = [];
    for (let index = 0; index < 3; index++) ids.push((await callApp(app, "POST", "/api/v1/infer/add/async", ADD_BODY)).body.jobId);
    expect(await callApp(app, "GET", `/api/v1/jobs/${ids[0]}/result`)).toMatchObject({ status: 409, body: { code: "JOB_NOT_READY", details: { status: "queued" } } });
    expect(await callApp(app, "DELETE", `/api/v1/jobs/${ids[0]}`)).toMatchObject({ status: 200, body: { jobId: ids[0], status: "cancelled" } });
    expect(await callApp(app, "GET", `/api/v1/jobs/${ids[0]}/result`)).toMatchObject({ status: 409, body: { code: "JOB_CANCELLED" } });
    const queued = await callApp(app, "GET", "/api/v1/jobs?status=queued&model=add&limit=1");
    expect(queued.body.jobs.map((job: { jobId: string }) => job.jobId)).toEqual([ids[2]]);
    expect(queued.body.links.next).toBe("/api/v1/jobs?status=queued&model=add&limit=1&offset=1");
    const next = await callApp(app, "GET", queued.body.links.next);
    expect(next.body).toMatchObject({ jobs: [{ jobId: ids[1], status: "queued" }], nextOffset: null });
    expect((await callApp(app, "GET", "/api/v1/jobs?model=other")).body.jobs).toEqual([]);
    expect((await callApp(app, "GET", "/api/v1/jobs")).body.jobs.map((job: { status: string }) => job.status)).toEqual(["queued", "queued", "cancelled"]);
    expect((await callApp(app, "GET", "/api/v1/jobs?status=bogus")).status).toBe(400);
    const metrics = await fixture.core.metrics.registry.metrics();
    expect(metrics).toContain("\nmodelmora_jobs_queued 2\n");
    expect(metrics).toContain("\nmodelmora_jobs_running 0\n");
  });
});

describe("a server with results in files and a 1 s TTL", () => {
  test("a result beyond the inline limit is a file under the data directory; after the TTL the sweeper deletes it and the job is expired (410)", async () => {
    // Files are the embedded default; on PostgreSQL the default is the database, so name the store.
    await using fixture = await coreWithAdd({ MODELMORA_JOB_INLINE_RESULT_KB: "0", MODELMORA_JOB_RESULT_TTL_SECONDS: "1", MODELMORA_JOB_RESULT_STORE: "files" });
    const { app } = fixture.core;
    const accepted = await callApp(app, "POST", "/api/v1/infer/add/async", ADD_BODY);
    const { jobId } = accepted.body;
    await settled(fixture, jobId);
    const row = await fixture.core.jobs.store.get(jobId);
    const file = path.join(fixture.dataDir, row.resultPath!);
    expect(row).toMatchObject({ result: null, resultStore: "files" });
    expect(existsSync(file)).toBe(true);
    const result = await callApp(app, "GET", `/api/v1/jobs/${jobId}/result`);
    expect(result.body).toEqual((await callApp(app, "POST", "/api/v1/infer/add", ADD_BODY)).body);
    expect(row.resultSizeBytes).toBe(JSON.stringify(result.body).length);
    await waitFor(async () => (await callApp(app, "GET", `/api/v1/jobs/${jobId}`)).body.status === "expired" || undefined, "the sweeper to expire the job", POLL);
    // The row is marked first, then the file removed.
    await waitFor(() => !existsSync(file), "the sweeper to delete the result file", POLL);
    expect(await callApp(app, "GET", `/api/v1/jobs/${jobId}/result`)).toMatchObject({ status: 410, body: { code: "JOB_EXPIRED" } });
  });
});
