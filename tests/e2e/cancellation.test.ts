/** A REST client that disconnects while its request is queued: the request is dropped and never runs. */
import { expect, test } from "bun:test";
import path from "node:path";
import { writeFixtureModels } from "../fixtures/models.ts";
import { startServerProcess } from "../support/server-fixture.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

const POLL = { timeoutMilliseconds: 20_000, intervalMilliseconds: 5 };

const SLOW_BODY = JSON.stringify({ inputs: [{ name: "x", shape: [1, 512], datatype: "FP32", data: new Array(512).fill(0.25) }] });

async function queueOf(baseUrl: string) {
  const status = (await (await fetch(`${baseUrl}/api/v1/status`)).json()) as { queue: { queued: number; inFlightBatches: number; dispatched: number; cancelled: number } };
  return status.queue;
}

test("a client that disconnects while queued is removed from the queue and its request never runs", async () => {
  await using directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  await using database = await testDatabase(dataDir);
  await using server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
  const post = (route: string, body: string, signal?: AbortSignal) =>
    fetch(`${server.baseUrl}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body, signal });

  expect((await post("/api/v1/models", JSON.stringify({ name: "slow", version: "1", task: "tensor", source: fixtures.slow }))).status).toBe(201);
  expect((await post("/api/v1/models/slow/load", "")).status).toBe(200);

  const blocker = post("/api/v1/infer/slow", SLOW_BODY);
  await waitFor(async () => (await queueOf(server.baseUrl)).inFlightBatches === 1, "the blocker to run", POLL);
  const controller = new AbortController();
  const abandoned = post("/api/v1/infer/slow", SLOW_BODY, controller.signal).catch((error: unknown) => error);
  await waitFor(async () => (await queueOf(server.baseUrl)).queued === 1, "the second request to queue", POLL);
  controller.abort();
  await abandoned;
  await waitFor(async () => (await queueOf(server.baseUrl)).cancelled === 1, "the server to drop the abandoned request", POLL);
  expect((await blocker).status).toBe(200);
  const queue = await queueOf(server.baseUrl);
  expect(queue).toMatchObject({ queued: 0, dispatched: 1, cancelled: 1 });
}, 60_000);
