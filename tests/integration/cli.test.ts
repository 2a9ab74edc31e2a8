/**
 * `modelmora <command>` as a user runs it: `bun src/cli.ts …` child processes, against a real
 * server process (tests/support/server-fixture.ts) and offline on data directories, downloading
 * from a local Hub stand-in (tests/support/hub-fixture.ts). Pins stdout tables, `--json` output,
 * and the exit codes scripts rely on: 0 ok, 1 failed, 2 usage, 3 not found, 4 unreachable.
 *
 * One server (beforeAll) serves the server-mode tests, each with its own model names; offline
 * tests get their own data directories.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { openDatabase } from "../../src/registry/database.ts";
import { referenceAdd, type FixtureModels, writeFixtureModels } from "../fixtures/models.ts";
import { type HubFixture, sha256Hex, startHub } from "../support/hub-fixture.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";
import { DEFAULT_MAX_BATCH_SIZE } from "../../src/registry/model-config.ts";

const CLI = path.join(import.meta.dir, "..", "..", "src", "cli.ts");
const COMMANDS = ["serve", "init", "install", "list", "info", "lock", "sync", "uninstall", "load", "unload", "infer", "jobs", "health", "status"];

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

let directory: TemporaryDirectory;
let fixtures: FixtureModels;
let hub: HubFixture;
let server: ServerProcess;
let serverDatabase: TestDatabase;
let addBytes: Uint8Array;
let addSha256: string;
/** An `hf://` reference to the add fixture, served by the hub (HF_ENDPOINT points there). */
const ADD_HF = "hf://org/models@v1/add.onnx";

/** The environment every CLI process starts from: no server URL, config file or HF settings leak in. */
function baseEnvironment(): Record<string, string | undefined> {
  return { ...process.env, MODELMORA_URL: undefined, MODELMORA_CONFIG: undefined, HF_TOKEN: undefined, HF_ENDPOINT: hub.endpoint, DATABASE_URL: undefined };
}

async function cli(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string; stdin?: string } = {}): Promise<Run> {
  await using child = Bun.spawn({
    cmd: [process.execPath, CLI, ...args],
    cwd: options.cwd ?? directory.path,
    env: { ...baseEnvironment(), ...options.env },
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

/** Runs against the shared server. */
function remote(...args: string[]): Promise<Run> {
  return cli([...args, "--server", server.baseUrl]);
}

/** A fresh data directory with a migrated database, and the flags/environment for offline commands on it. */
async function offlineDataDir(name: string): Promise<{ dataDir: string; env: Record<string, string | undefined>; dispose: () => Promise<void> }> {
  const dataDir = path.join(directory.path, name);
  const database = await testDatabase(dataDir);
  return { dataDir, env: { DATABASE_URL: database.databaseUrl }, dispose: async () => database[Symbol.asyncDispose]() };
}

function lines(text: string): string[] {
  return text.trimEnd().split("\n");
}

/** The cells of the table row whose first cell is `first`. */
function row(table: string, first: string): string[] | undefined {
  return lines(table)
    .map((line) => line.split(/\s{2,}/))
    .find((cells) => cells[0] === first);
}

beforeAll(async () => {
  directory = await temporaryDirectory("modelmora-cli-");
  fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  hub = startHub();
  addBytes = new Uint8Array(await Bun.file(fixtures.add).arrayBuffer());
  addSha256 = sha256Hex(addBytes);
  hub.addFile("org/models", "add.onnx", { bytes: addBytes }, "v1");
  hub.addFile("org/models", "matmul-relu.onnx", { bytes: new Uint8Array(await Bun.file(fixtures.matmulRelu).arrayBuffer()) });
  const dataDir = path.join(directory.path, "server-data");
  serverDatabase = await testDatabase(dataDir);
  server = await startServerProcess({ dataDir, databaseUrl: serverDatabase.databaseUrl, environment: { HF_ENDPOINT: hub.endpoint, HF_TOKEN: undefined } });
});

afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
  await serverDatabase?.[Symbol.asyncDispose]();
  await hub?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

describe("help and usage errors", () => {
  test("every command answers --help with its usage on stdout and exit 0", async () => {
    const runs = await Promise.all(COMMANDS.map((command) => cli([command, "--help"])));
    runs.forEach((run, index) => {
      expect(run.exitCode).toBe(0);
      expect(run.stdout).toStartWith(`usage: modelmora ${COMMANDS[index]}`);
    });
    const overview = await cli(["--help"]);
    expect(overview.exitCode).toBe(0);
    for (const command of COMMANDS) expect(overview.stdout).toContain(`  ${command} `);
    expect(overview.stdout).toContain("exit codes: 0 ok, 1 operation failed, 2 usage error, 3 not found, 4 server unreachable");
  });

  test.each([
    [[], ""],
    [["frobnicate"], 'unknown command "frobnicate"'],
    [["list", "--bogus"], "unknown flag --bogus"],
    [["info"], "missing argument <name>"],
    [["info", "a", "b"], 'unexpected argument "b"'],
    [["install", "x.onnx", "--sha256", "abc"], "--sha256 must be 64 hex digits"],
    [["install", "x.onnx", "--name", "no spaces"], 'model name "no spaces"'],
    [["list", "--server", "http://127.0.0.1:9", "--data-dir", "d"], "--server and --data-dir exclude each other"],
    [["list", "--server", "not a url"], "is not a URL"],
    [["load", "add", "--data-dir", "d"], "needs a running server"],
    [["infer", "add"], "--input FILE is required"],
    [["serve", "--port", "http"], "httpPort must be a port number"],
  ])("%p is a usage error: exit 2", async (args, message) => {
    const run = await cli(args);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe("server mode", () => {
  test("install from a relative path, then list, info and their --json forms", async () => {
    const relative = path.relative(directory.path, fixtures.matmulRelu);
    const installed = await remote("install", relative, "--name", "cli-mm", "--version", "3", "--model-config", '{"maxBatchSize":4}');
    expect(installed.exitCode).toBe(0);
    expect(installed.stdout).toContain("cli-mm 3: installed");
    expect(installed.stdout).toContain(`source  ${fixtures.matmulRelu}`);

    const listed = await remote("list");
    expect(listed.exitCode).toBe(0);
    expect(lines(listed.stdout)[0]!.split(/\s+/)).toEqual(["NAME", "VERSION", "VERSIONS", "TASK", "STATE", "SIZE", "SHA256", "SOURCE"]);
    expect(row(listed.stdout, "cli-mm")).toEqual(["cli-mm", "3", "1", "tensor", "unloaded", "372 B", sha256Hex(new Uint8Array(await Bun.file(fixtures.matmulRelu).arrayBuffer())).slice(0, 12), fixtures.matmulRelu]);

    const listedJson = await remote("list", "--json", "--task", "tensor");
    expect(listedJson.exitCode).toBe(0);
    const models = JSON.parse(listedJson.stdout) as { name: string; config: { maxBatchSize: number } }[];
    expect(models.find((model) => model.name === "cli-mm")?.config.maxBatchSize).toBe(4);
    expect(JSON.parse((await remote("list", "--json", "--task", "txt2embed")).stdout)).toEqual([]);

    const info = await remote("info", "cli-mm");
    expect(info.exitCode).toBe(0);
    expect(info.stdout).toContain("active version  3");
    expect(row(info.stdout, "input")).toEqual(["input", "x", "FP32", "?x8"]);
    expect(row(info.stdout, "maxBatchSize")).toEqual(["maxBatchSize", "4"]);
    const infoJson = JSON.parse((await remote("info", "cli-mm", "--json")).stdout);
    expect(infoJson).toMatchObject({ name: "cli-mm", activeVersion: "3", inputs: [{ name: "x", datatype: "FP32", shape: [-1, 8] }], state: "unloaded" });
  });

  test("an hf:// install with --sha256 downloads once; installing the same file again downloads nothing", async () => {
    const before = hub.downloadsOf("/org/models/resolve/v1/add.onnx");
    const first = await remote("install", ADD_HF, "--name", "cli-hf-a", "--sha256", addSha256, "--json");
    expect(first.exitCode).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ action: "installed", model: { name: "cli-hf-a", versions: [{ sha256: addSha256, source: ADD_HF }] } });
    expect(hub.downloadsOf("/org/models/resolve/v1/add.onnx")).toBe(before + 1);

    // The same file under another name: its sha256 is cached, so the server fetches nothing.
    const second = await remote("install", ADD_HF, "--name", "cli-hf-b", "--sha256", addSha256);
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain("cli-hf-b 1: installed");
    // The same name and version again: already installed, nothing fetched.
    const again = await remote("install", ADD_HF, "--name", "cli-hf-a");
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain("cli-hf-a 1: already installed (nothing fetched)");
    expect(hub.downloadsOf("/org/models/resolve/v1/add.onnx")).toBe(before + 1);

    // The same name and version from another source is refused, not replaced.
    const conflicting = await remote("install", fixtures.matmulRelu, "--name", "cli-hf-a");
    expect(conflicting.exitCode).toBe(1);
    expect(conflicting.stderr).toContain("already installed from hf://org/models@v1/add.onnx");
  });

  test("load, infer, status, health and unload on a running model", async () => {
    expect((await remote("install", fixtures.add, "--name", "cli-add")).exitCode).toBe(0);
    const loaded = await remote("load", "cli-add");
    expect(loaded.exitCode).toBe(0);
    expect(loaded.stdout).toContain("state     ready");

    const a = [1, 2, 3, 4, 0.5, -1, 2.25, 8];
    const b = [10, 20, 30, 40, 0.25, 1, -2, 0];
    const body = { inputs: [{ name: "a", shape: [2, 4], datatype: "FP32", data: a }, { name: "b", shape: [2, 4], datatype: "FP32", data: b }] };
    const inputFile = path.join(directory.path, "add-input.json");
    await writeFile(inputFile, JSON.stringify(body));
    const expected = Array.from(referenceAdd(Float32Array.from(a), Float32Array.from(b)));

    const inferred = await remote("infer", "cli-add", "--input", inputFile);
    expect(inferred.exitCode).toBe(0);
    expect(inferred.stdout).toContain("cli-add 1");
    expect(row(inferred.stdout, "sum")).toEqual(["sum", "FP32", "2x4", `[${expected.join(", ")}]`]);

    const inferredJson = await cli(["infer", "cli-add", "--input", "-", "--json", "--server", server.baseUrl], { stdin: JSON.stringify(body) });
    expect(inferredJson.exitCode).toBe(0);
    const answer = JSON.parse(inferredJson.stdout);
    expect(answer.outputs[0]).toMatchObject({ name: "sum", shape: [2, 4], datatype: "FP32" });
    (answer.outputs[0].data as number[]).forEach((value, index) => expect(Math.abs(value - expected[index]!)).toBeLessThanOrEqual(1e-6));

    const status = await remote("status");
    expect(status.exitCode).toBe(0);
    expect(row(status.stdout, "cli-add")?.slice(0, 3)).toEqual(["cli-add", "1", "ready"]);
    const statusJson = JSON.parse((await remote("status", "--json")).stdout);
    expect(statusJson.models.find((model: { name: string }) => model.name === "cli-add")).toMatchObject({ state: "ready", provider: "cpu" });
    expect(statusJson).toHaveProperty("queue.queued");

    const health = await remote("health");
    expect(health.exitCode).toBe(0);
    expect(health.stdout).toContain("ready   ready");
    expect(row(health.stdout, "cli-add")?.slice(0, 3)).toEqual(["cli-add", "1", "ready"]);
    expect(JSON.parse((await remote("health", "--json")).stdout)).toMatchObject({ server: server.baseUrl, live: true, ready: "ready" });

    const unloaded = await remote("unload", "cli-add", "--json");
    expect(unloaded.exitCode).toBe(0);
    expect(JSON.parse(unloaded.stdout)).toEqual({ name: "cli-add", state: "unloaded" });
  });

  test("an infer body the model refuses is exit 1 with the server's code; a missing or non-JSON input file is 3 / 2", async () => {
    expect((await remote("install", fixtures.add, "--name", "cli-add-bad")).exitCode).toBe(0);
    const wrongInput = path.join(directory.path, "wrong-input.json");
    await writeFile(wrongInput, JSON.stringify({ inputs: [{ name: "nope", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] }));
    const refused = await remote("infer", "cli-add-bad", "--input", wrongInput);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("[INVALID_INPUT]");

    const refusedJson = await remote("infer", "cli-add-bad", "--input", wrongInput, "--json");
    expect(refusedJson.stdout).toBe("");
    expect(JSON.parse(refusedJson.stderr)).toMatchObject({ code: "INVALID_INPUT", exitCode: 1 });

    expect((await remote("infer", "cli-add-bad", "--input", path.join(directory.path, "absent.json"))).exitCode).toBe(3);
    const notJson = path.join(directory.path, "not-json.json");
    await writeFile(notJson, "{ inputs: ");
    expect((await remote("infer", "cli-add-bad", "--input", notJson)).exitCode).toBe(2);
  });

  test("unknown models are exit 3 for every command that names one", async () => {
    const inputFile = path.join(directory.path, "any-input.json");
    await writeFile(inputFile, JSON.stringify({ inputs: [{ name: "a", shape: [1], datatype: "FP32", data: [1] }] }));
    const runs = await Promise.all([
      remote("info", "cli-nope"),
      remote("uninstall", "cli-nope"),
      remote("load", "cli-nope"),
      remote("unload", "cli-nope"),
      remote("infer", "cli-nope", "--input", inputFile),
    ]);
    for (const run of runs) {
      expect(run.exitCode).toBe(3);
      expect(run.stderr).toContain('model "cli-nope" is not registered [MODEL_NOT_FOUND]');
    }
  });

  test("failed operations are exit 1: a file that is not a model, a source the Hub does not have", async () => {
    const corrupt = await remote("install", fixtures.corrupt, "--name", "cli-corrupt");
    expect(corrupt.exitCode).toBe(1);
    expect(corrupt.stderr).toContain("[MODEL_LOAD_FAILED]");
    const missing = await remote("install", "hf://org/models/absent.onnx", "--json");
    expect(missing.exitCode).toBe(1);
    const error = JSON.parse(missing.stderr);
    expect(error).toMatchObject({ code: "SOURCE_UNAVAILABLE", exitCode: 1 });
    expect(error.error).toContain("HTTP 404");
    expect((await remote("info", "cli-corrupt")).exitCode).toBe(3);
  });

  test("uninstall removes the model; afterwards it is not found", async () => {
    expect((await remote("install", fixtures.fixedShape, "--name", "cli-gone")).exitCode).toBe(0);
    const removed = await remote("uninstall", "cli-gone");
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toContain("uninstalled cli-gone (versions 1)");
    expect((await remote("info", "cli-gone")).exitCode).toBe(3);
  });

  test("lock pins every model; sync against the same server finds everything present and downloads nothing", async () => {
    expect((await remote("install", ADD_HF, "--name", "cli-lock-add", "--sha256", addSha256)).exitCode).toBe(0);
    const lockPath = path.join(directory.path, "server.lock");
    const locked = await remote("lock", "--output", lockPath);
    expect(locked.exitCode).toBe(0);
    expect(locked.stdout).toContain(`wrote ${lockPath}`);
    const lock = JSON.parse(await readFile(lockPath, "utf8"));
    expect(Date.parse(lock.generatedAt)).not.toBeNaN();
    expect(lock.lockfileVersion).toBe(1);
    expect(lock.models["cli-lock-add"]).toEqual({
      version: "1",
      task: "tensor",
      source: ADD_HF,
      sha256: addSha256,
      sizeBytes: addBytes.length,
      config: expect.objectContaining({ maxBatchSize: DEFAULT_MAX_BATCH_SIZE, replicas: 1, keepAliveSeconds: 300 }),
    });
    expect(Object.keys(lock.models)).toEqual([...Object.keys(lock.models)].sort());

    const downloads = hub.requests.length;
    const synced = await remote("sync", "--lock", lockPath, "--json");
    expect(synced.exitCode).toBe(0);
    const result = JSON.parse(synced.stdout);
    expect(result.ok).toBe(true);
    expect(result.models.every((model: { action: string }) => model.action === "present")).toBe(true);
    expect(result.models.map((model: { name: string }) => model.name)).toEqual(Object.keys(lock.models));
    expect(hub.requests.length).toBe(downloads);
  });

  test("sync with a checksum the download does not match fails with exit 1, names the mismatch, and registers nothing", async () => {
    const lockPath = path.join(directory.path, "mismatch.lock");
    const wrong = "f".repeat(64);
    await writeFile(
      lockPath,
      JSON.stringify({
        lockfileVersion: 1,
        generatedAt: new Date().toISOString(),
        models: {
          "cli-mismatch": { version: "1", task: "tensor", source: `hf://org/models/matmul-relu.onnx`, sha256: wrong, sizeBytes: 372, config: {} },
          "cli-fine": { version: "1", task: "tensor", source: fixtures.add, sha256: addSha256, sizeBytes: addBytes.length, config: {} },
        },
      }),
    );
    const synced = await remote("sync", "--lock", lockPath);
    expect(synced.exitCode).toBe(1);
    expect(row(synced.stdout, "cli-mismatch")).toEqual(["cli-mismatch", "1", "failed", "CHECKSUM_MISMATCH"]);
    expect(row(synced.stdout, "cli-fine")).toEqual(["cli-fine", "1", "installed", "-"]);
    expect(synced.stderr).toContain(`not the expected ${wrong}`);
    expect((await remote("info", "cli-mismatch")).exitCode).toBe(3);
  });

  test("install of a further version makes it active; sync brings back the pinned version and config exactly", async () => {
    expect((await remote("install", fixtures.add, "--name", "cli-upd", "--version", "1")).exitCode).toBe(0);
    const second = await remote("install", fixtures.add, "--name", "cli-upd", "--version", "2", "--model-config", '{"maxBatchSize":16,"replicas":2}');
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain("active  2");

    const lockPath = path.join(directory.path, "update.lock");
    const pinned = { version: "1", task: "tensor", source: fixtures.add, sha256: addSha256, sizeBytes: addBytes.length, config: { maxBatchSize: 2 } };
    await writeFile(lockPath, JSON.stringify({ lockfileVersion: 1, generatedAt: new Date().toISOString(), models: { "cli-upd": pinned } }));
    const synced = await remote("sync", "--lock", lockPath, "--json");
    expect(synced.exitCode).toBe(0);
    expect(JSON.parse(synced.stdout).models).toEqual([{ name: "cli-upd", version: "1", action: "updated" }]);
    const info = JSON.parse((await remote("info", "cli-upd", "--json")).stdout);
    expect(info.activeVersion).toBe("1");
    // Exact: the pinned key is set, and replicas, which the lock leaves out, is back at its default.
    expect(info.config).toMatchObject({ maxBatchSize: 2, replicas: 1 });
    expect(JSON.parse((await remote("sync", "--lock", lockPath, "--json")).stdout).models[0].action).toBe("present");
  });

  test("a missing lock file is exit 3, a malformed one exit 2", async () => {
    expect((await remote("sync", "--lock", path.join(directory.path, "absent.lock"))).exitCode).toBe(3);
    const malformed = path.join(directory.path, "malformed.lock");
    await writeFile(malformed, JSON.stringify({ lockfileVersion: 1, generatedAt: "now", models: { x: { version: "1", task: "tensor", source: "/x", sha256: "abc", sizeBytes: 1 } } }));
    const run = await remote("sync", "--lock", malformed);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("models.x.sha256 must be 64 lowercase hex digits");
  });
});

describe("server unreachable", () => {
  test("every server command exits 4 when nothing listens, whether named by --server or MODELMORA_URL", async () => {
    const closed = Bun.serve({ port: 0, fetch: () => new Response() });
    const url = `http://127.0.0.1:${closed.port}`;
    await closed.stop(true);
    const inputFile = path.join(directory.path, "unreachable-input.json");
    await writeFile(inputFile, "{}");
    const runs = await Promise.all([
      cli(["list", "--server", url]),
      cli(["health", "--server", url]),
      cli(["status"], { env: { MODELMORA_URL: url } }),
      cli(["install", fixtures.add], { env: { MODELMORA_URL: url } }),
      cli(["infer", "x", "--input", inputFile, "--server", url]),
    ]);
    for (const run of runs) {
      expect(run.exitCode).toBe(4);
      expect(run.stderr).toContain(`cannot reach the ModelMora server at ${url}`);
    }
  });

  test("without --server or MODELMORA_URL the config file's host and port are used", async () => {
    const cwd = path.join(directory.path, "config-host");
    await mkdir(cwd, { recursive: true });
    await writeFile(path.join(cwd, "modelmora.config.json"), `{ "host": "127.0.0.1", "httpPort": ${server.httpPort} }`);
    const run = await cli(["health", "--json"], { cwd });
    expect(run.exitCode).toBe(0);
    expect(JSON.parse(run.stdout).server).toBe(server.baseUrl);
  });
});

describe("offline mode (--data-dir)", () => {
  test("install downloads with a final progress line, list/info/lock read the data directory, sync reproduces it elsewhere once", async () => {
    const source = await offlineDataDir("offline-source");
    const target = await offlineDataDir("offline-target");
    try {
      const before = hub.downloadsOf("/org/models/resolve/v1/add.onnx");
      const installed = await cli(["install", ADD_HF, "--name", "off-add", "--data-dir", source.dataDir], { env: source.env });
      expect(installed.exitCode).toBe(0);
      expect(installed.stdout).toContain("off-add 1: installed");
      expect(installed.stdout).toContain(`where   data directory ${source.dataDir}`);
      // stderr is not a terminal here: no bar, one summary line.
      expect(installed.stderr).toContain(`downloaded ${hub.endpoint}/org/models/resolve/v1/add.onnx: ${addBytes.length} B`);
      expect(existsSync(path.join(source.dataDir, "models", "sha256", addSha256))).toBe(true);

      const listed = await cli(["list", "--data-dir", source.dataDir], { env: source.env });
      expect(listed.exitCode).toBe(0);
      expect(row(listed.stdout, "off-add")).toEqual(["off-add", "1", "1", "tensor", "-", `${addBytes.length} B`, addSha256.slice(0, 12), ADD_HF]);
      expect((await cli(["info", "off-add", "--data-dir", source.dataDir], { env: source.env })).stdout).toContain("active version  1");
      expect((await cli(["info", "nope", "--data-dir", source.dataDir], { env: source.env })).exitCode).toBe(3);

      const lockPath = path.join(directory.path, "offline.lock");
      expect((await cli(["lock", "--output", lockPath, "--data-dir", source.dataDir], { env: source.env })).exitCode).toBe(0);

      const firstSync = await cli(["sync", "--lock", lockPath, "--data-dir", target.dataDir, "--json"], { env: target.env });
      expect(firstSync.exitCode).toBe(0);
      expect(JSON.parse(firstSync.stdout).models).toEqual([{ name: "off-add", version: "1", action: "installed" }]);
      const secondSync = await cli(["sync", "--lock", lockPath, "--data-dir", target.dataDir, "--json"], { env: target.env });
      expect(JSON.parse(secondSync.stdout).models).toEqual([{ name: "off-add", version: "1", action: "present" }]);
      // One download for the install, one for the first sync; the second sync fetched nothing.
      expect(hub.downloadsOf("/org/models/resolve/v1/add.onnx")).toBe(before + 2);

      const removed = await cli(["uninstall", "off-add", "--data-dir", target.dataDir], { env: target.env });
      expect(removed.exitCode).toBe(0);
      expect(existsSync(path.join(target.dataDir, "models", "sha256", addSha256))).toBe(false);
    } finally {
      await source.dispose();
      await target.dispose();
    }
  });

  test("a sync whose pinned version is registered with another checksum fails and leaves it as it was", async () => {
    const data = await offlineDataDir("offline-conflict");
    try {
      expect((await cli(["install", fixtures.add, "--name", "off-conflict", "--data-dir", data.dataDir], { env: data.env })).exitCode).toBe(0);
      const lockPath = path.join(directory.path, "conflict.lock");
      const other = "e".repeat(64);
      await writeFile(lockPath, JSON.stringify({ lockfileVersion: 1, generatedAt: "x", models: { "off-conflict": { version: "1", task: "tensor", source: fixtures.add, sha256: other, sizeBytes: 1, config: {} } } }));
      const run = await cli(["sync", "--lock", lockPath, "--data-dir", data.dataDir], { env: data.env });
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toContain(`installed with sha256 ${addSha256}, not the ${other} asked for`);
      const info = JSON.parse((await cli(["info", "off-conflict", "--json", "--data-dir", data.dataDir], { env: data.env })).stdout);
      expect(info.versions[0].sha256).toBe(addSha256);
    } finally {
      await data.dispose();
    }
  });

  test("sync --prune uninstalls what the lock does not name", async () => {
    const data = await offlineDataDir("offline-prune");
    try {
      for (const [name, file] of [["keep", fixtures.add], ["drop", fixtures.fixedShape]] as const) {
        expect((await cli(["install", file, "--name", name, "--data-dir", data.dataDir], { env: data.env })).exitCode).toBe(0);
      }
      const lockPath = path.join(directory.path, "prune.lock");
      await writeFile(lockPath, JSON.stringify({ lockfileVersion: 1, generatedAt: "x", models: { keep: { version: "1", task: "tensor", source: fixtures.add, sha256: addSha256, sizeBytes: addBytes.length } } }));
      const run = await cli(["sync", "--lock", lockPath, "--prune", "--data-dir", data.dataDir], { env: data.env });
      expect(run.exitCode).toBe(0);
      expect(row(run.stdout, "keep")?.slice(0, 3)).toEqual(["keep", "1", "present"]);
      expect(row(run.stdout, "drop")?.slice(0, 3)).toEqual(["drop", "1", "removed"]);
      expect(JSON.parse((await cli(["list", "--json", "--data-dir", data.dataDir], { env: data.env })).stdout).map((model: { name: string }) => model.name)).toEqual(["keep"]);
    } finally {
      await data.dispose();
    }
  });

  test("a data directory locked by a running process is refused (exit 2, naming its pid); a lock left by a dead process is taken over and released", async () => {
    const dataDir = path.join(directory.path, "offline-busy");
    await mkdir(dataDir, { recursive: true });
    const lockFile = path.join(dataDir, "modelmora.lock.pid");
    // This test runner is alive: its pid holds the lock.
    await writeFile(lockFile, `${process.pid}\nserve\n`);
    const refused = await cli(["list", "--data-dir", dataDir]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`is in use by process ${process.pid} (modelmora serve)`);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(await readFile(lockFile, "utf8")).toBe(`${process.pid}\nserve\n`);
    expect(existsSync(path.join(dataDir, "registry.sqlite"))).toBe(false);

    const finished = Bun.spawn({ cmd: ["true"] });
    await finished.exited;
    await writeFile(lockFile, `${finished.pid}\nserve\n`);
    const listed = await cli(["list", "--data-dir", dataDir]);
    expect(listed.exitCode).toBe(0);
    expect(existsSync(lockFile)).toBe(false);
  });

  test("a data directory whose database another process holds open is refused (exit 2, DATA_DIR_IN_USE), and usable once it is closed", async () => {
    const dataDir = path.join(directory.path, "offline-held");
    const holder = await openDatabase({ dataDir });
    let released = false;
    try {
      const run = await cli(["list", "--data-dir", dataDir]);
      expect(run.exitCode).toBe(2);
      expect(run.stderr).toContain("is open in another process");
      expect(run.stderr).toContain("[DATA_DIR_IN_USE]");
      await holder.close();
      released = true;
      expect((await cli(["list", "--data-dir", dataDir])).exitCode).toBe(0);
    } finally {
      if (!released) await holder.close();
    }
  });

  test("a PGlite catalogue left by an earlier version is refused in one line that says how to carry the models over (exit 2)", async () => {
    const dataDir = path.join(directory.path, "offline-pglite");
    await mkdir(path.join(dataDir, "pgdata"), { recursive: true });
    await writeFile(path.join(dataDir, "pgdata", "PG_VERSION"), "17\n");
    const run = await cli(["list", "--data-dir", dataDir]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("is the PGlite catalogue of an earlier ModelMora");
    expect(run.stderr).toContain("modelmora lock --data-dir");
    expect(run.stderr).not.toContain("this is a bug");
    expect(existsSync(path.join(dataDir, "registry.sqlite"))).toBe(false);
  });
});

describe("init and the config file", () => {
  test("init writes a commented config; a second init refuses unless --force", async () => {
    const cwd = path.join(directory.path, "init");
    await mkdir(cwd, { recursive: true });
    const first = await cli(["init"], { cwd });
    expect(first.exitCode).toBe(0);
    const text = await readFile(path.join(cwd, "modelmora.config.json"), "utf8");
    expect(text).toContain("// HTTP port");
    expect(text).toContain('"httpPort": 8080');
    expect(Bun.JSONC.parse(text)).toMatchObject({ host: "127.0.0.1", httpPort: 8080, dataDir: "./data" });

    const second = await cli(["init"], { cwd });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain("already exists");
    expect((await cli(["init", "--force", "--json"], { cwd })).exitCode).toBe(0);
    expect(JSON.parse((await cli(["init", "--path", "sub/other.json", "--json"], { cwd })).stdout)).toEqual({ path: path.join(cwd, "sub", "other.json") });
  });

  test("serve reads the config file named by --config: its port and its data directory (relative to the file)", async () => {
    const folder = path.join(directory.path, "configured");
    await mkdir(folder, { recursive: true });
    const dataDir = path.join(folder, "state");
    const database = await testDatabase(dataDir);
    const configFile = path.join(folder, "server.json");
    await writeFile(configFile, `// test config\n{ "httpPort": 0, "grpcPort": 0, "dataDir": "./state", /* trailing comma: */ }\n`);
    await using child = Bun.spawn({
      cmd: [process.execPath, CLI, "serve", "--config", configFile],
      cwd: directory.path,
      env: { ...baseEnvironment(), DATABASE_URL: database.databaseUrl },
      stdout: "pipe",
      stderr: "pipe",
    });
    let listening: Record<string, unknown> | undefined;
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += new TextDecoder().decode(chunk);
      listening = buffered
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.event === "listening");
      if (listening) break;
    }
    child.kill("SIGTERM");
    await child.exited;
    await database[Symbol.asyncDispose]();
    expect(listening).toMatchObject({ data_dir: dataDir });
    expect(listening!.http_port).toBeGreaterThan(0);
  });
});
