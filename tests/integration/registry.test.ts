/**
 * The registry against a real database (embedded SQLite, or PostgreSQL when DATABASE_URL is set), a real
 * model cache on disk, and real worker processes reading model signatures.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { ModelMoraError } from "../../src/errors.ts";
import { createInspector } from "../../src/lifecycle/inspect.ts";
import { spawnWorkerProcess } from "../../src/lifecycle/worker-process.ts";
import { type OpenDatabase, openDatabase } from "../../src/registry/database.ts";
import { ModelCache } from "../../src/registry/model-cache.ts";
import { ModelRegistry } from "../../src/registry/registry.ts";
import { FIXTURE_SIGNATURES, type FixtureModels, writeFixtureModels } from "../fixtures/models.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";
import { rejection } from "../support/rejection.ts";

let directory: TemporaryDirectory;
let fixtures: FixtureModels;

beforeAll(async () => {
  directory = await temporaryDirectory();
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
});
afterAll(async () => directory[Symbol.asyncDispose]());

interface Harness extends AsyncDisposable {
  registry: ModelRegistry;
  dataDir: string;
  reopen(): Promise<ModelRegistry>;
}

let harnessCount = 0;

async function harness(): Promise<Harness> {
  const dataDir = path.join(directory.path, `data-${harnessCount++}`);
  const database: TestDatabase = await testDatabase(dataDir);
  let opened: OpenDatabase = await openDatabase({ dataDir, databaseUrl: database.databaseUrl });
  const registryOn = (db: OpenDatabase) => new ModelRegistry(db, new ModelCache(dataDir), createInspector(spawnWorkerProcess));
  return {
    registry: registryOn(opened),
    dataDir,
    async reopen() {
      await opened.close();
      opened = await openDatabase({ dataDir, databaseUrl: database.databaseUrl });
      return registryOn(opened);
    },
    async [Symbol.asyncDispose]() {
      await opened.close();
      await database[Symbol.asyncDispose]();
    },
  };
}

async function sha256Of(filePath: string): Promise<string> {
  return new Bun.CryptoHasher("sha256").update(await Bun.file(filePath).arrayBuffer()).digest("hex");
}

async function cachedFiles(dataDir: string): Promise<string[]> {
  return readdir(path.join(dataDir, "models", "sha256")).catch(() => []);
}

describe("model registry", () => {
  test("registering copies the file into the content-addressed cache and stores the signature onnxruntime reports", async () => {
    await using h = await harness();
    const record = await h.registry.register({ name: "mm", version: "1", task: "tensor", source: fixtures.matmulRelu, config: { maxBatchSize: 8 } });
    const sha256 = await sha256Of(fixtures.matmulRelu);
    expect(record.inputs).toEqual(FIXTURE_SIGNATURES.matmulRelu.inputs);
    expect(record.outputs).toEqual(FIXTURE_SIGNATURES.matmulRelu.outputs);
    expect(record.versions).toHaveLength(1);
    expect(record.versions[0]).toMatchObject({ version: "1", sha256, sizeBytes: Bun.file(fixtures.matmulRelu).size });
    expect(record.config.maxBatchSize).toBe(8);
    expect(record.config.replicas).toBe(1);
    expect(await cachedFiles(h.dataDir)).toEqual([sha256]);
  });

  test("file:// sources and a matching sha256 are accepted", async () => {
    await using h = await harness();
    const sha256 = await sha256Of(fixtures.add);
    const record = await h.registry.register({ name: "add", version: "1", task: "tensor", source: `file://${fixtures.add}`, sha256: sha256.toUpperCase() });
    expect(record.versions[0]!.sha256).toBe(sha256);
  });

  test("a sha256 mismatch fails with CHECKSUM_MISMATCH and stores nothing", async () => {
    await using h = await harness();
    const error = await rejection(h.registry.register({ name: "add", version: "1", task: "tensor", source: fixtures.add, sha256: "0".repeat(64) }));
    expect(error.code).toBe("CHECKSUM_MISMATCH");
    expect(error.details).toMatchObject({ expected: "0".repeat(64), actual: await sha256Of(fixtures.add) });
    expect(await h.registry.list()).toEqual([]);
    expect(await cachedFiles(h.dataDir)).toEqual([]);
  });

  test("a file onnxruntime cannot open fails with MODEL_LOAD_FAILED and stores nothing", async () => {
    await using h = await harness();
    const error = await rejection(h.registry.register({ name: "bad", version: "1", task: "tensor", source: fixtures.corrupt }));
    expect(error.code).toBe("MODEL_LOAD_FAILED");
    expect(await h.registry.list()).toEqual([]);
    expect(await cachedFiles(h.dataDir)).toEqual([]);
  });

  test("a missing source file fails with SOURCE_UNAVAILABLE", async () => {
    await using h = await harness();
    const error = await rejection(h.registry.register({ name: "x", version: "1", task: "tensor", source: "/nonexistent/model.onnx" }));
    expect(error.code).toBe("SOURCE_UNAVAILABLE");
  });

  test("the same name and version twice is MODEL_ALREADY_EXISTS; the first stays intact", async () => {
    await using h = await harness();
    await h.registry.register({ name: "add", version: "1", task: "tensor", source: fixtures.add });
    const error = await rejection(h.registry.register({ name: "add", version: "1", task: "tensor", source: fixtures.matmulRelu }));
    expect(error.code).toBe("MODEL_ALREADY_EXISTS");
    const record = await h.registry.get("add");
    expect(record.inputs).toEqual(FIXTURE_SIGNATURES.add.inputs);
    expect(await cachedFiles(h.dataDir)).toEqual([await sha256Of(fixtures.add)]);
  });

  test("concurrent registrations of the same name and version store exactly one", async () => {
    await using h = await harness();
    const attempts = await Promise.allSettled(
      Array.from({ length: 3 }, () => h.registry.register({ name: "add", version: "1", task: "tensor", source: fixtures.add })),
    );
    // Each rejection's code and message, so that a failure says what went wrong.
    const outcomes = attempts.map((attempt) => (attempt.status === "fulfilled" ? "stored" : `${(attempt.reason as ModelMoraError).code}: ${(attempt.reason as Error).message}`));
    expect(outcomes.filter((outcome) => outcome === "stored")).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome !== "stored").map((outcome) => outcome.split(":")[0])).toEqual(["MODEL_ALREADY_EXISTS", "MODEL_ALREADY_EXISTS"]);
    expect((await h.registry.get("add")).versions).toHaveLength(1);
  });

  test("an unsupported task is INVALID_INPUT", async () => {
    await using h = await harness();
    expect((await rejection(h.registry.register({ name: "x", version: "1", task: "teleport", source: fixtures.add }))).code).toBe("INVALID_INPUT");
  });

  test("a second version is added without switching the active one until asked", async () => {
    await using h = await harness();
    await h.registry.register({ name: "m", version: "1", task: "tensor", source: fixtures.add });
    const second = await h.registry.register({ name: "m", version: "2", task: "tensor", source: fixtures.twoInTwoOut });
    expect(second.activeVersion).toBe("1");
    expect(second.versions.map((version) => version.version)).toEqual(["1", "2"]);
    expect(second.inputs).toEqual(FIXTURE_SIGNATURES.add.inputs);
    const switched = await h.registry.setActiveVersion("m", "2");
    expect(switched.activeVersion).toBe("2");
    expect(switched.inputs).toEqual(FIXTURE_SIGNATURES.twoInTwoOut.inputs);
    expect((await h.registry.resolve("m")).version).toBe("2");
    expect((await h.registry.resolve("m", "1")).inputs).toEqual(FIXTURE_SIGNATURES.add.inputs);
    expect((await rejection(h.registry.setActiveVersion("m", "9"))).code).toBe("VERSION_NOT_FOUND");
    expect((await rejection(h.registry.resolve("m", "9"))).code).toBe("VERSION_NOT_FOUND");
  });

  test("list filters by task and orders by name; unknown names are MODEL_NOT_FOUND", async () => {
    await using h = await harness();
    await h.registry.register({ name: "b-model", version: "1", task: "tensor", source: fixtures.add });
    await h.registry.register({ name: "a-model", version: "1", task: "tensor", source: fixtures.fixedShape });
    expect((await h.registry.list()).map((record) => record.name)).toEqual(["a-model", "b-model"]);
    expect((await h.registry.list({ task: "tensor" })).map((record) => record.name)).toEqual(["a-model", "b-model"]);
    expect(await h.registry.list({ task: "txt2embed" })).toEqual([]);
    expect((await rejection(h.registry.get("nope"))).code).toBe("MODEL_NOT_FOUND");
    expect((await rejection(h.registry.resolve("nope"))).code).toBe("MODEL_NOT_FOUND");
  });

  test("config updates merge, and null returns a key to its default", async () => {
    await using h = await harness();
    await h.registry.register({ name: "m", version: "1", task: "tensor", source: fixtures.add, config: { maxBatchSize: 4, keepAliveSeconds: 10 } });
    const updated = await h.registry.updateConfig("m", { replicas: 2, keepAliveSeconds: null });
    expect(updated.config).toMatchObject({ maxBatchSize: 4, replicas: 2, keepAliveSeconds: 300 });
  });

  test("delete removes rows and cached files, but keeps a file another model still uses", async () => {
    await using h = await harness();
    await h.registry.register({ name: "one", version: "1", task: "tensor", source: fixtures.add });
    await h.registry.register({ name: "two", version: "1", task: "tensor", source: fixtures.add });
    await h.registry.register({ name: "two", version: "2", task: "tensor", source: fixtures.matmulRelu });
    await h.registry.delete("two");
    expect((await h.registry.list()).map((record) => record.name)).toEqual(["one"]);
    expect(await cachedFiles(h.dataDir)).toEqual([await sha256Of(fixtures.add)]);
    await h.registry.delete("one");
    expect(await cachedFiles(h.dataDir)).toEqual([]);
    expect((await rejection(h.registry.delete("one"))).code).toBe("MODEL_NOT_FOUND");
  });

  test("the catalogue survives closing and reopening the database", async () => {
    await using h = await harness();
    await h.registry.register({ name: "persisted", version: "1", task: "tensor", source: fixtures.add });
    const reopened = await h.reopen();
    const record = await reopened.get("persisted");
    expect(record.inputs).toEqual(FIXTURE_SIGNATURES.add.inputs);
    expect(await Bun.file(path.join(h.dataDir, "models", "sha256", record.versions[0]!.sha256)).exists()).toBe(true);
  });
});
