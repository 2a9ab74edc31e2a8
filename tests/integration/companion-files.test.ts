/**
 * Companion files (tokenizer.json, …) registered with a model version: cached content-addressed,
 * verified against a given sha256, shown in the model object, removed with their last user; and the
 * txt2embed task with its Hugging Face alias. Real database, real cache, real worker processes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { ModelMoraError } from "../../src/errors.ts";
import { createInspector } from "../../src/lifecycle/inspect.ts";
import { spawnWorkerProcess } from "../../src/lifecycle/worker-process.ts";
import { openDatabase } from "../../src/registry/database.ts";
import { ModelCache } from "../../src/registry/model-cache.ts";
import { ModelRegistry } from "../../src/registry/registry.ts";
import { type FixtureModels, writeFixtureModels } from "../fixtures/models.ts";
import { rejection } from "../support/rejection.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";

let directory: TemporaryDirectory;
let fixtures: FixtureModels;
let tokenizerPath: string;
let configPath: string;

beforeAll(async () => {
  directory = await temporaryDirectory();
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  tokenizerPath = path.join(directory.path, "tokenizer.json");
  configPath = path.join(directory.path, "pooling.json");
  await Bun.write(tokenizerPath, JSON.stringify({ version: "1.0", model: { type: "WordLevel", vocab: { a: 0 }, unk_token: "a" } }));
  await Bun.write(configPath, JSON.stringify({ pooling_mode_mean_tokens: true }));
});
afterAll(async () => directory[Symbol.asyncDispose]());

let count = 0;
async function withRegistry(use: (registry: ModelRegistry, dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = path.join(directory.path, `data-${count++}`);
  await using database = await testDatabase(dataDir);
  const opened = await openDatabase({ dataDir, databaseUrl: database.databaseUrl });
  try {
    await use(new ModelRegistry(opened, new ModelCache(dataDir), createInspector(spawnWorkerProcess)), dataDir);
  } finally {
    await opened.close();
  }
}

const sha256Of = async (filePath: string) => new Bun.CryptoHasher("sha256").update(await Bun.file(filePath).arrayBuffer()).digest("hex");
const cached = (dataDir: string) => readdir(path.join(dataDir, "models", "sha256")).catch(() => [] as string[]);

describe("companion files", () => {
  test("are cached by sha256, shown per version, and resolved to their cached paths", async () => {
    await withRegistry(async (registry, dataDir) => {
      const tokenizerSha = await sha256Of(tokenizerPath);
      const record = await registry.register({
        name: "enc",
        version: "1",
        task: "feature-extraction",
        source: fixtures.matmulRelu,
        files: { "tokenizer.json": { source: tokenizerPath, sha256: tokenizerSha.toUpperCase() }, "1_Pooling/config.json": configPath },
      });
      expect(record.task).toBe("txt2embed");
      expect(record.versions[0]!.files).toEqual({
        "tokenizer.json": { source: tokenizerPath, sha256: tokenizerSha, sizeBytes: Bun.file(tokenizerPath).size },
        "1_Pooling/config.json": { source: configPath, sha256: await sha256Of(configPath), sizeBytes: Bun.file(configPath).size },
      });
      const resolved = await registry.resolve("enc");
      expect(resolved.files["tokenizer.json"]!.sha256).toBe(tokenizerSha);
      expect(await Bun.file(resolved.files["tokenizer.json"]!.path).text()).toBe(await Bun.file(tokenizerPath).text());
      expect((await cached(dataDir)).length).toBe(3);

      await registry.delete("enc");
      expect(await cached(dataDir)).toEqual([]);
    });
  });

  test("a wrong sha256 refuses the registration and leaves nothing behind", async () => {
    await withRegistry(async (registry, dataDir) => {
      const error = await rejection(
        registry.register({ name: "enc", version: "1", task: "txt2embed", source: fixtures.matmulRelu, files: { "tokenizer.json": { source: tokenizerPath, sha256: "0".repeat(64) } } }),
      );
      expect(error).toBeInstanceOf(ModelMoraError);
      expect((error as ModelMoraError).code).toBe("CHECKSUM_MISMATCH");
      expect(await cached(dataDir)).toEqual([]);
      expect(await registry.list()).toEqual([]);
    });
  });

  test("a file name that climbs out of the version (..) or an unknown task is INVALID_INPUT", async () => {
    await withRegistry(async (registry) => {
      const inputs: { task: string; files: Record<string, string> }[] = [
        { task: "txt2embed", files: { "../tokenizer.json": tokenizerPath } },
        { task: "image-segmentation", files: {} },
      ];
      for (const input of inputs) {
        const error = await rejection(registry.register({ name: "enc", version: "1", source: fixtures.matmulRelu, ...input }));
        expect((error as ModelMoraError).code).toBe("INVALID_INPUT");
      }
    });
  });

  test("a file shared by two versions stays cached until its last user is deleted", async () => {
    await withRegistry(async (registry, dataDir) => {
      await registry.register({ name: "a", version: "1", task: "txt2embed", source: fixtures.matmulRelu, files: { "tokenizer.json": tokenizerPath } });
      await registry.register({ name: "b", version: "1", task: "tensor", source: fixtures.add, files: { "vocab.json": tokenizerPath } });
      await registry.delete("a");
      expect(await cached(dataDir)).toContain(await sha256Of(tokenizerPath));
      await registry.delete("b");
      expect(await cached(dataDir)).toEqual([]);
    });
  });
});
