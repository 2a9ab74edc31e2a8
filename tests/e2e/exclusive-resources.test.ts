/**
 * One server per port and per data directory, over real processes and sockets: a second
 * `modelmora serve` on a busy HTTP or gRPC port, or on a data directory another server holds, exits
 * 2 with one line naming the port or the holder's pid, and the first server keeps serving with its
 * files intact.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { type FixtureModels, writeFixtureModels } from "../fixtures/models.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";

const CLI = path.join(import.meta.dir, "..", "..", "src", "cli.ts");

let directory: TemporaryDirectory;
let fixtures: FixtureModels;
/** Holds its data directory with the embedded database (the lock only exists there). */
let first: ServerProcess;
let firstDataDir: string;
/** The data directory the second servers of the port tests use (their own database). */
let otherDataDir: string;
let otherDatabase: TestDatabase;

beforeAll(async () => {
  directory = await temporaryDirectory();
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  firstDataDir = path.join(directory.path, "first");
  first = await startServerProcess({ dataDir: firstDataDir, environment: { DATABASE_URL: undefined } });
  otherDataDir = path.join(directory.path, "other");
  otherDatabase = await testDatabase(otherDataDir);
});

afterAll(async () => {
  await first?.[Symbol.asyncDispose]();
  await otherDatabase?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

/** Runs a second `serve` to its exit. */
async function secondServe(args: string[], databaseUrl: string | undefined): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  await using child = Bun.spawn({
    cmd: [process.execPath, CLI, "serve", ...args],
    env: { ...process.env, DATABASE_URL: databaseUrl, MODELMORA_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

/** The first server answers, and answers as itself: the model registered on it is there every time. */
async function firstStillServes(model: string): Promise<void> {
  for (let attempt = 0; attempt < 6; attempt++) {
    const response = await fetch(`${first.baseUrl}/api/v1/models/${model}`);
    expect(response.status).toBe(200);
  }
}

describe("one server per port and data directory", () => {
  test("a second server on the busy HTTP port exits 2 with one line naming the port and --port / MODELMORA_PORT; the first keeps serving", async () => {
    const registered = await fetch(`${first.baseUrl}/api/v1/models`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "held-http", version: "1", task: "tensor", source: fixtures.add }),
    });
    expect(registered.status).toBe(201);
    const run = await secondServe(["--port", String(first.httpPort), "--grpc-port", "0", "--data-dir", otherDataDir], otherDatabase.databaseUrl);
    expect(run.exitCode).toBe(2);
    expect(run.stderr.trim().split("\n")).toEqual([
      `modelmora serve: HTTP port ${first.httpPort} on 127.0.0.1 is already in use (--port / MODELMORA_PORT): stop the process that holds it, or choose another port (0 picks a free one)`,
    ]);
    expect(run.stdout).not.toContain('"event":"listening"');
    await firstStillServes("held-http");
  });

  test("a second server on the busy gRPC port exits 2 with one line naming --grpc-port / MODELMORA_GRPC_PORT, before creating anything in its data directory", async () => {
    const neverOpened = path.join(directory.path, "never-opened");
    const run = await secondServe(["--port", "0", "--grpc-port", String(first.grpcPort), "--data-dir", neverOpened], undefined);
    expect(existsSync(neverOpened)).toBe(false);
    expect(run.exitCode).toBe(2);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`gRPC port ${first.grpcPort} on 127.0.0.1 is already in use (--grpc-port / MODELMORA_GRPC_PORT)`);
    expect(lines[0]).not.toContain("this is a bug");
    await firstStillServes("held-http");
  });

  test("a second server on the same data directory is refused (exit 2, naming the first's pid) and the first's files stay intact", async () => {
    const lockFile = path.join(firstDataDir, "modelmora.lock.pid");
    const registryFile = path.join(firstDataDir, "registry.sqlite");
    const lockBefore = await readFile(lockFile, "utf8");
    expect(existsSync(registryFile)).toBe(true);
    expect(lockBefore).toBe(`${first.process.pid}\nserve\n`);

    const run = await secondServe(["--port", "0", "--grpc-port", "0", "--data-dir", firstDataDir], undefined);
    expect(run.exitCode).toBe(2);
    expect(run.stderr.trim().split("\n")).toEqual([
      `modelmora serve: data directory ${firstDataDir} (--data-dir / MODELMORA_DATA_DIR) is in use by process ${first.process.pid} (modelmora serve): stop it, talk to it with --server URL, or choose another data directory`,
    ]);
    expect(await readFile(lockFile, "utf8")).toBe(lockBefore);
    expect(existsSync(registryFile)).toBe(true);

    // The first server still owns a working catalogue: it registers and lists.
    const registered = await fetch(`${first.baseUrl}/api/v1/models`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "held-data", version: "1", task: "tensor", source: fixtures.add }),
    });
    expect(registered.status).toBe(201);
    await firstStillServes("held-data");
  });
});
