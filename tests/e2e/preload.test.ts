/** `preload: true` models load at server start, before /health/ready answers 200. */
import { expect, test } from "bun:test";
import path from "node:path";
import { writeFixtureModels } from "../fixtures/models.ts";
import { startServerProcess } from "../support/server-fixture.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

test("a preload model is ready, with a live worker, by the time /health/ready first answers 200", async () => {
  await using directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  await using database = await testDatabase(dataDir);
  {
    await using first = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
    const registered = await fetch(`${first.baseUrl}/api/v1/models`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      // The slow model's health check takes most of a second: long enough to see readiness wait.
      body: JSON.stringify({ name: "eager", version: "1", task: "tensor", source: fixtures.slow, config: { preload: true } }),
    });
    expect(registered.status).toBe(201);
    expect(((await registered.json()) as { state: string }).state).toBe("unloaded");
  }
  await using second = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl });
  const readinessSeen: number[] = [];
  await waitFor(
    async () => {
      const ready = await fetch(`${second.baseUrl}/health/ready`);
      readinessSeen.push(ready.status);
      if (ready.status === 200) return true;
      expect(((await ready.json()) as { status: string }).status).toBe("preloading");
      return false;
    },
    "the server to become ready",
    { timeoutMilliseconds: 30_000, intervalMilliseconds: 10 },
  );
  const status = (await (await fetch(`${second.baseUrl}/api/v1/status`)).json()) as { models: { name: string; state: string; pid: number }[] };
  const eager = status.models.find((model) => model.name === "eager");
  expect(eager?.state).toBe("ready");
  expect(() => process.kill(eager!.pid, 0)).not.toThrow();
  expect(second.logs.some((line) => line.event === "preloaded" && line.model === "eager")).toBe(true);
}, 60_000);
