/**
 * Companion files in `modelmora lock` and `sync`, offline on data directories, as a user runs the
 * CLI (`bun src/cli.ts …` child processes): the lock pins each file's source and sha256, a sync into
 * an empty data directory registers the version with the same files, and a pin that does not match
 * the file is refused with nothing registered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { createInspector } from "../../src/lifecycle/inspect.ts";
import { spawnWorkerProcess } from "../../src/lifecycle/worker-process.ts";
import { openDatabase } from "../../src/registry/database.ts";
import { ModelCache } from "../../src/registry/model-cache.ts";
import { ModelRegistry } from "../../src/registry/registry.ts";
import { type TextEncoderFiles, writeTextEncoder } from "../fixtures/text-encoder.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";

const CLI = path.join(import.meta.dir, "..", "..", "src", "cli.ts");

let directory: TemporaryDirectory;
let files: TextEncoderFiles;

beforeAll(async () => {
  directory = await temporaryDirectory();
  files = await writeTextEncoder(path.join(directory.path, "encoder"));
});
afterAll(async () => directory?.[Symbol.asyncDispose]());

async function cli(args: string[], env: Record<string, string | undefined>): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  await using child = Bun.spawn({
    cmd: [process.execPath, CLI, ...args],
    cwd: directory.path,
    env: { ...process.env, MODELMORA_URL: undefined, MODELMORA_CONFIG: undefined, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

/** Runs `use` on the registry of a data directory (the CLI is not running on it meanwhile). */
async function withRegistry<T>(dataDir: string, databaseUrl: string | undefined, use: (registry: ModelRegistry) => Promise<T>): Promise<T> {
  const opened = await openDatabase({ dataDir, databaseUrl });
  try {
    return await use(new ModelRegistry(opened, new ModelCache(dataDir), createInspector(spawnWorkerProcess)));
  } finally {
    await opened.close();
  }
}

const sha256Of = async (filePath: string) => new Bun.CryptoHasher("sha256").update(await Bun.file(filePath).arrayBuffer()).digest("hex");

describe("companion files in lock and sync", () => {
  test("lock pins them, sync installs them, a wrong pin is refused", async () => {
    const sourceDir = path.join(directory.path, "source");
    await using sourceDatabase = await testDatabase(sourceDir);
    await withRegistry(sourceDir, sourceDatabase.databaseUrl, (registry) =>
      registry.register({ name: "enc", version: "1", task: "txt2embed", source: files.model, files: { "tokenizer.json": files.tokenizer, "1_Pooling/config.json": files.clsPooling } }),
    );
    const lockPath = path.join(directory.path, "enc.lock");
    const locked = await cli(["lock", "--output", lockPath, "--data-dir", sourceDir], { DATABASE_URL: sourceDatabase.databaseUrl });
    expect(locked.exitCode).toBe(0);
    const lock = await Bun.file(lockPath).json();
    expect(lock.models.enc.files).toEqual({
      "1_Pooling/config.json": { source: files.clsPooling, sha256: await sha256Of(files.clsPooling) },
      "tokenizer.json": { source: files.tokenizer, sha256: await sha256Of(files.tokenizer) },
    });

    const targetDir = path.join(directory.path, "target");
    await using targetDatabase = await testDatabase(targetDir);
    const synced = await cli(["sync", "--lock", lockPath, "--data-dir", targetDir], { DATABASE_URL: targetDatabase.databaseUrl });
    expect({ exitCode: synced.exitCode, stderr: synced.stderr }).toEqual({ exitCode: 0, stderr: "" });
    const installed = await withRegistry(targetDir, targetDatabase.databaseUrl, (registry) => registry.get("enc"));
    expect(installed.versions[0]!.files).toEqual(await withRegistry(sourceDir, sourceDatabase.databaseUrl, async (registry) => (await registry.get("enc")).versions[0]!.files));

    lock.models.enc.files["tokenizer.json"].sha256 = "0".repeat(64);
    const badLockPath = path.join(directory.path, "bad.lock");
    await Bun.write(badLockPath, JSON.stringify(lock));
    const freshDir = path.join(directory.path, "fresh");
    await using freshDatabase = await testDatabase(freshDir);
    const refused = await cli(["sync", "--lock", badLockPath, "--data-dir", freshDir], { DATABASE_URL: freshDatabase.databaseUrl });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`not the expected ${"0".repeat(64)}; nothing was kept`);
    expect(await withRegistry(freshDir, freshDatabase.databaseUrl, (registry) => registry.list())).toEqual([]);

    // Against the target, where the version is present with other files than pinned: refused too.
    const mismatch = await cli(["sync", "--lock", badLockPath, "--data-dir", targetDir], { DATABASE_URL: targetDatabase.databaseUrl });
    expect(mismatch.exitCode).toBe(1);
    expect(mismatch.stderr).toContain("tokenizer.json sha256");
  });
});
