/**
 * `modelmora jobs …` against a real server: submit prints the job id, get reports it, result prints
 * the answer (checked against the add reference), list shows it, cancel cancels a job; a job id the
 * server does not know exits non-zero with JOB_NOT_FOUND.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import { referenceAdd, writeFixtureModels } from "../fixtures/models.ts";
import { jsonCall } from "../support/jobs-client.ts";
import { type ServerProcess, startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { type TestDatabase, testDatabase } from "../support/test-database.ts";
import { waitFor } from "../support/wait.ts";

const CLI = path.join(import.meta.dir, "..", "..", "src", "cli.ts");
const A = [1, 2, 3, 4];
const B = [10, 20, 30, 40];

let directory: TemporaryDirectory;
let database: TestDatabase;
let server: ServerProcess;
let input: string;

beforeAll(async () => {
  directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  database = await testDatabase(dataDir);
  server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: { MODELMORA_JOB_POLL_MILLISECONDS: "50" } });
  expect((await jsonCall(server.baseUrl, "POST", "/api/v1/models", { name: "add", version: "1", task: "tensor", source: fixtures.add })).status).toBe(201);
  input = path.join(directory.path, "body.json");
  await Bun.write(input, JSON.stringify({ inputs: [{ name: "a", shape: [1, 4], datatype: "FP32", data: A }, { name: "b", shape: [1, 4], datatype: "FP32", data: B }] }));
}, 60_000);

afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
  await database?.[Symbol.asyncDispose]();
  await directory?.[Symbol.asyncDispose]();
});

async function jobs(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  await using child = Bun.spawn({ cmd: [process.execPath, CLI, "jobs", ...args, "--server", server.baseUrl], env: { ...process.env, MODELMORA_URL: undefined }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

test("jobs submit, get, result and list: the job runs with its priority and its answer is the reference", async () => {
  const submitted = await jobs("submit", "add", "--input", input, "--priority", "high");
  expect(submitted.exitCode).toBe(0);
  const id = submitted.stdout.trim();
  const done = await waitFor(async () => {
    const answer = JSON.parse((await jobs("get", id, "--json")).stdout);
    return answer.status === "succeeded" ? answer : undefined;
  }, "the job to succeed", { timeoutMilliseconds: 20_000, intervalMilliseconds: 50 });
  expect(done).toMatchObject({ jobId: id, model: "add", priority: 2, attempts: 1 });
  const result = await jobs("result", id);
  expect(JSON.parse(result.stdout).outputs[0].data).toEqual(Array.from(referenceAdd(Float32Array.from(A), Float32Array.from(B))));
  const listed = await jobs("list", "--status", "succeeded", "--model", "add");
  expect(listed.stdout).toContain(id);
  expect(listed.stdout).toContain("succeeded");
  const human = await jobs("get", id);
  expect(human.stdout).toMatch(/status\s+succeeded/);
});

test("jobs cancel answers the finished job as it is; an unknown id exits 3 (not found, as for an unknown model) naming JOB_NOT_FOUND", async () => {
  const id = (await jobs("submit", "add", "--input", input)).stdout.trim();
  await waitFor(async () => JSON.parse((await jobs("get", id, "--json")).stdout).status === "succeeded" || undefined, "the job to succeed", { timeoutMilliseconds: 20_000, intervalMilliseconds: 50 });
  expect(JSON.parse((await jobs("cancel", id, "--json")).stdout).status).toBe("succeeded");
  const missing = await jobs("get", "no-such-job");
  expect(missing.exitCode).toBe(3);
  expect(missing.stderr).toContain("JOB_NOT_FOUND");
  expect((await jobs("frobnicate")).exitCode).toBe(2);
});
