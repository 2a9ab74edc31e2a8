/**
 * Start-up problems an operator causes and fixes are one line on stderr naming the flag or
 * variable and what to do, exit code 2, and never "this is a bug". Real `serve` processes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";

const CLI = path.join(import.meta.dir, "..", "..", "src", "cli.ts");

let directory: TemporaryDirectory;

beforeAll(async () => {
  directory = await temporaryDirectory();
});

afterAll(async () => {
  await directory?.[Symbol.asyncDispose]();
});

async function serve(args: string[], environment: Record<string, string | undefined> = {}): Promise<{ exitCode: number; stderr: string }> {
  await using child = Bun.spawn({
    cmd: [process.execPath, CLI, "serve", "--port", "0", "--grpc-port", "0", ...args],
    env: { ...process.env, DATABASE_URL: undefined, MODELMORA_LOG_FORMAT: undefined, ...environment },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const [stderr, exitCode] = await Promise.all([new Response(child.stderr).text(), child.exited]);
  return { exitCode, stderr };
}

function expectOneLine(run: { exitCode: number; stderr: string }, ...parts: string[]): void {
  expect(run.exitCode).toBe(2);
  const lines = run.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  for (const part of parts) expect(lines[0]).toContain(part);
  expect(lines[0]).not.toContain("this is a bug");
}

test("a data directory that lies under a file names --data-dir / MODELMORA_DATA_DIR", async () => {
  const file = path.join(directory.path, "a-file");
  await writeFile(file, "not a directory");
  expectOneLine(await serve(["--data-dir", path.join(file, "data")]), `data directory ${path.join(file, "data")} (--data-dir / MODELMORA_DATA_DIR) is a file, or lies under one`);
});

test("a host that does not resolve names --host / MODELMORA_HOST", async () => {
  expectOneLine(await serve(["--host", "no-such-host.invalid", "--data-dir", path.join(directory.path, "host")]), 'host "no-such-host.invalid" (--host / MODELMORA_HOST) does not resolve');
});

test("an unreachable DATABASE_URL names the variable and masks the password", async () => {
  const run = await serve(["--data-dir", path.join(directory.path, "pg")], { DATABASE_URL: "postgres://user:secret@127.0.0.1:1/modelmora" });
  expectOneLine(run, "cannot open the database at DATABASE_URL / --database-url (postgres://user:***@127.0.0.1:1/modelmora)", "ECONNREFUSED");
  expect(run.stderr).not.toContain("secret");
});

test("an unknown MODELMORA_LOG_FORMAT names the variable and the choices", async () => {
  expectOneLine(await serve(["--data-dir", path.join(directory.path, "log")], { MODELMORA_LOG_FORMAT: "xml" }), 'MODELMORA_LOG_FORMAT is "xml": use json or pretty');
});
