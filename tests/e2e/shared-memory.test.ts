/**
 * Shared-memory files across a server's death: a server killed with SIGKILL leaves its arena
 * directory behind (nothing can run at SIGKILL), and the next server started on the same shared-memory
 * directory removes it; a server stopped with SIGTERM removes its own.
 */
import { expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { writeFixtureModels } from "../fixtures/models.ts";
import { childPids, processAlive } from "../support/processes.ts";
import { startServerProcess } from "../support/server-fixture.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

const POLL = { timeoutMilliseconds: 20_000, intervalMilliseconds: 10 };

test("a server killed with -9 leaves no shared-memory files once the next server has started, and SIGTERM leaves none at all", async () => {
  await using directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  const shmDir = path.join(directory.path, "shm");
  await using database = await testDatabase(dataDir);
  const environment = { MODELMORA_SHM_DIR: shmDir };

  const first = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment });
  const post = (baseUrl: string, route: string, body: unknown) =>
    fetch(`${baseUrl}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect((await post(first.baseUrl, "/api/v1/models", { name: "add", version: "1", task: "tensor", source: fixtures.add })).status).toBe(201);
  const body = { inputs: [{ name: "a", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }, { name: "b", shape: [1, 4], datatype: "FP32", data: [1, 1, 1, 1] }] };
  const answer = await post(first.baseUrl, "/api/v1/infer/add", body);
  expect(((await answer.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual([2, 3, 4, 5]);

  const firstDirectory = `modelmora-${first.process.pid}-1`;
  expect(readdirSync(shmDir)).toEqual([firstDirectory]);
  const arenaFiles = readdirSync(path.join(shmDir, firstDirectory));
  expect(arenaFiles.some((name) => name.startsWith("in-"))).toBe(true);
  expect(arenaFiles.some((name) => name.startsWith("out-"))).toBe(true);

  const workers = childPids(first.process.pid);
  first.process.kill("SIGKILL");
  await first.process.exited;
  await waitFor(() => workers.every((pid) => !processAlive(pid)), "the workers to exit with their parent", POLL);
  expect(existsSync(path.join(shmDir, firstDirectory))).toBe(true); // SIGKILL: nobody cleaned up

  const second = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment });
  expect(readdirSync(shmDir)).toEqual([`modelmora-${second.process.pid}-1`]);
  expect((await post(second.baseUrl, "/api/v1/infer/add", body)).status).toBe(200);
  second.process.kill("SIGTERM");
  expect(await second.process.exited).toBe(0);
  expect(readdirSync(shmDir)).toEqual([]);
});
