/**
 * Durable job callbacks on real `serve` processes (embedded SQLite, or PostgreSQL when DATABASE_URL
 * is set) and a real receiver on 127.0.0.1: the delivery state lives in the job's row, so a server
 * SIGKILLed between two refused attempts is restarted and the callback still arrives, signed (HMAC
 * recomputed here) and carrying the job id; a receiver that never accepts ends with the callback
 * given up, visible in GET /api/v1/jobs/{id}.
 */
import { expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import path from "node:path";
import { referenceAdd } from "../fixtures/models.ts";
import { jsonCall, submitJob } from "../support/jobs-client.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { fixtureModelsPerFile } from "../support/fixture-models-per-file.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

const SECRET = "e2e-callback-secret";
const POLL = { timeoutMilliseconds: 60_000, intervalMilliseconds: 50 };
const A = [1, 2, 3, 4];
const B = [0.5, -1, 2.5, 8];
const BODY = { inputs: [{ name: "a", shape: [1, 4], datatype: "FP32", data: A }, { name: "b", shape: [1, 4], datatype: "FP32", data: B }] };

const shared = fixtureModelsPerFile();

interface Delivery {
  body: string;
  signature: string | null;
  jobId: string | null;
}

/** A receiver answering each delivery with `status(n)` for the n-th (1-based). */
function receiver(status: (delivery: number) => number) {
  const deliveries: Delivery[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      deliveries.push({ body: await request.text(), signature: request.headers.get("x-modelmora-signature"), jobId: request.headers.get("x-modelmora-job-id") });
      return new Response(null, { status: status(deliveries.length) });
    },
  });
  return { deliveries, url: `http://127.0.0.1:${server.port}/hook`, [Symbol.dispose]: () => server.stop(true) };
}

async function jobView(server: ServerProcess, id: string): Promise<any> {
  return (await jsonCall(server.baseUrl, "GET", `/api/v1/jobs/${id}`)).body;
}

function expectSigned(delivery: Delivery, id: string): void {
  expect(delivery.signature).toBe(`sha256=${createHmac("sha256", SECRET).update(delivery.body).digest("hex")}`);
  expect(delivery.jobId).toBe(id);
  expect(JSON.parse(delivery.body).jobId).toBe(id);
}

test("a server SIGKILLed between two refused deliveries is restarted and the callback still arrives, signed and carrying the job id", async () => {
  const dataDir = path.join(shared.directory.path, "restart");
  await using database = await testDatabase(dataDir);
  using hook = receiver((delivery) => (delivery <= 2 ? 503 : 204));
  const environment = { MODELMORA_JOB_CALLBACK_SECRET: SECRET, MODELMORA_JOB_POLL_MILLISECONDS: "50", MODELMORA_JOB_RETRY_BASE_SECONDS: "1", MODELMORA_JOB_CALLBACK_ATTEMPTS: "5" };
  const start = () => startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment });
  let server = await start();
  try {
    expect((await jsonCall(server.baseUrl, "POST", "/api/v1/models", { name: "add", version: "1", task: "tensor", source: shared.fixtures.add })).status).toBe(201);
    const id = await submitJob(server.baseUrl, "add", { ...BODY, callbackUrl: hook.url });
    // The first refusal is recorded in the row (next delivery ~1 s later): kill the server before it comes.
    const refused = await waitFor(async () => {
      const job = await jobView(server, id);
      return job.callback?.attempts === 1 && job.callback.lastError === "HTTP 503" ? job : undefined;
    }, "the first delivery's refusal to be recorded", POLL);
    expect(refused.callback).toMatchObject({ state: "pending", attempts: 1 });
    server.process.kill("SIGKILL");
    await server.process.exited;
    expect(hook.deliveries.length).toBe(1);
    server = await start();
    const delivered = await waitFor(async () => {
      const job = await jobView(server, id);
      return job.callback?.state === "delivered" ? job : undefined;
    }, "the callback to be delivered after the restart", POLL);
    expect(delivered.callback).toEqual({ state: "delivered", attempts: 3, nextAttemptAt: null, lastError: null });
    expect(hook.deliveries.length).toBe(3);
    for (const delivery of hook.deliveries) expectSigned(delivery, id);
    // Every attempt carries the same body: a receiver may deduplicate by job id.
    expect(new Set(hook.deliveries.map((delivery) => delivery.body)).size).toBe(1);
    const body = JSON.parse(hook.deliveries[2]!.body);
    expect(body).toMatchObject({ status: "succeeded", model: "add" });
    expect(body.result.outputs[0].data).toEqual(Array.from(referenceAdd(Float32Array.from(A), Float32Array.from(B))));
    expect(body.result).toEqual((await jsonCall(server.baseUrl, "GET", `/api/v1/jobs/${id}/result`)).body);
  } finally {
    await server[Symbol.asyncDispose]();
  }
}, 120_000);

test("a receiver that never accepts: the callback is given up after MODELMORA_JOB_CALLBACK_ATTEMPTS, shown in the job", async () => {
  const dataDir = path.join(shared.directory.path, "given-up");
  await using database = await testDatabase(dataDir);
  using hook = receiver(() => 500);
  const environment = { MODELMORA_JOB_CALLBACK_SECRET: SECRET, MODELMORA_JOB_POLL_MILLISECONDS: "50", MODELMORA_JOB_RETRY_BASE_SECONDS: "0.1", MODELMORA_JOB_CALLBACK_ATTEMPTS: "3" };
  await using server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment });
  expect((await jsonCall(server.baseUrl, "POST", "/api/v1/models", { name: "add", version: "1", task: "tensor", source: shared.fixtures.add })).status).toBe(201);
  const id = await submitJob(server.baseUrl, "add", { ...BODY, callbackUrl: hook.url });
  const givenUp = await waitFor(async () => {
    const job = await jobView(server, id);
    return job.callback?.state === "given_up" ? job : undefined;
  }, "the callback to be given up", POLL);
  expect(givenUp).toMatchObject({ status: "succeeded", callback: { state: "given_up", attempts: 3, nextAttemptAt: null, lastError: "HTTP 500" } });
  expect(hook.deliveries.length).toBe(3);
  for (const delivery of hook.deliveries) expectSigned(delivery, id);
  const log = await server.waitForLog((line) => line.event === "job_callback_given_up");
  expect(log.job_id).toBe(id);
}, 120_000);
