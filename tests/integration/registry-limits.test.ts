/**
 * Registry limits and model-config bounds through the REST API of a real server core (real
 * database, real inspector processes): out-of-bounds configs are 400 naming the field and the
 * bound; registrations beyond MODELMORA_MAX_MODELS / MAX_VERSIONS_PER_MODEL / MAX_CONCURRENT_REGISTRATIONS
 * are 429 QUEUE_FULL with Retry-After, and nothing of them is stored.
 */
import { describe, expect, test } from "bun:test";
import path from "node:path";
import { createInspector } from "../../src/lifecycle/inspect.ts";
import type { InspectModel } from "../../src/registry/signature.ts";
import { spawnWorkerProcess } from "../../src/lifecycle/worker-process.ts";
import { openDatabase } from "../../src/registry/database.ts";
import { ModelCache } from "../../src/registry/model-cache.ts";
import { DEFAULT_MAX_QUEUE_SIZE } from "../../src/registry/model-config.ts";
import { ModelRegistry } from "../../src/registry/registry.ts";
import { RegistryLimits } from "../../src/registry/registry-limits.ts";
import { writeFixtureModels } from "../fixtures/models.ts";
import { callApp, startCore } from "../support/core-fixture.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";
import { codeOf } from "../support/core-fixture.ts";

describe("model config bounds over REST", () => {
  test("registration and update refuse out-of-bounds values with 400 naming the field and the bound; defaults bound the queue", async () => {
    await using fixture = await startCore();
    const { app } = fixture.core;
    const tooMany = await callApp(app, "POST", "/api/v1/models", { name: "r", source: fixture.fixtures.add, config: { replicas: 64 } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "config.replicas", maximum: 16 } });
    expect(tooMany.body.error).toContain("at most 16");
    const tiny = await callApp(app, "POST", "/api/v1/models", { name: "r", source: fixture.fixtures.add, config: { memoryMb: 1 } });
    expect(tiny.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "config.memoryMb", minimum: 32 } });
    expect((await callApp(app, "GET", "/api/v1/models/r")).status).toBe(404);

    const registered = await callApp(app, "POST", "/api/v1/models", { name: "r", source: fixture.fixtures.add });
    expect(registered.status).toBe(201);
    expect(registered.body.config.maxQueueSize).toBe(DEFAULT_MAX_QUEUE_SIZE);
    const keepAlive = await callApp(app, "PUT", "/api/v1/models/r", { config: { keepAliveSeconds: 2 ** 31 } });
    expect(keepAlive.status).toBe(400);
    expect(keepAlive.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "config.keepAliveSeconds" } });
    const warmup = await callApp(app, "PUT", "/api/v1/models/r", { config: { warmupShapes: { x: [100_000, 100_000] } } });
    expect(warmup.body).toMatchObject({ code: "INVALID_INPUT", details: { field: "config.warmupShapes" } });
    expect((await callApp(app, "GET", "/api/v1/models/r")).body.config.keepAliveSeconds).toBe(300);
  });
});

describe("registry limits", () => {
  test("a model or version beyond the limits is 429 QUEUE_FULL naming the setting, and nothing is stored", async () => {
    await using fixture = await startCore({ maxModels: "2", maxVersionsPerModel: "2" });
    const { app } = fixture.core;
    const register = (name: string, version: string) => callApp(app, "POST", "/api/v1/models", { name, version, source: fixture.fixtures.add });
    expect((await register("a", "1")).status).toBe(201);
    expect((await register("a", "2")).status).toBe(201);
    const thirdVersion = await register("a", "3");
    expect(thirdVersion.status).toBe(429);
    expect(thirdVersion.body).toMatchObject({ code: "QUEUE_FULL", details: { limit: 2 } });
    expect(thirdVersion.body.error).toContain("MODELMORA_MAX_VERSIONS_PER_MODEL");
    expect((await register("b", "1")).status).toBe(201);
    const thirdModel = await register("c", "1");
    expect(thirdModel.status).toBe(429);
    expect(thirdModel.headers.get("retry-after")).toBe("1");
    expect(thirdModel.body.error).toContain("MODELMORA_MAX_MODELS");
    expect((await callApp(app, "GET", "/api/v1/models")).body.map((model: { name: string }) => model.name)).toEqual(["a", "b"]);
    expect((await callApp(app, "DELETE", "/api/v1/models/b")).status).toBe(200);
    expect((await register("c", "1")).status).toBe(201);
  });

  test("registrations beyond maxConcurrentRegistrations are refused at once; a slot frees when one ends", async () => {
    await using directory = await temporaryDirectory();
    const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
    const dataDir = path.join(directory.path, "data");
    await using database = await testDatabase(dataDir);
    const opened = await openDatabase({ dataDir, databaseUrl: database.databaseUrl });
    try {
      // The real inspector, held until the test lets it go: the first registration keeps its slot meanwhile.
      const inspect = createInspector(spawnWorkerProcess);
      let releaseFirst!: () => void;
      const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
      let calls = 0;
      const heldInspector: InspectModel = async (modelPath) => {
        if (calls++ === 0) await firstHeld;
        return inspect(modelPath);
      };
      const limits = new RegistryLimits({ maxModels: 10, maxVersionsPerModel: 10, maxConcurrentRegistrations: 1 });
      const registry = new ModelRegistry(opened, new ModelCache(dataDir), heldInspector, limits);
      const first = registry.register({ name: "first", version: "1", task: "tensor", source: fixtures.add });
      await Bun.sleep(0);
      expect(limits.runningRegistrations).toBe(1);
      expect(await codeOf(registry.register({ name: "second", version: "1", task: "tensor", source: fixtures.add }))).toBe("QUEUE_FULL");
      releaseFirst();
      expect((await first).name).toBe("first");
      expect(limits.runningRegistrations).toBe(0);
      expect((await registry.register({ name: "second", version: "1", task: "tensor", source: fixtures.matmulRelu })).name).toBe("second");
    } finally {
      await opened.close();
    }
  });
});
