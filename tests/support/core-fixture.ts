/**
 * The real server core (database, registry, scheduler, pool with real worker processes) without a
 * listener, over fresh fixture models, for in-process tests. Dispose (`await using`) stops workers
 * and removes everything it created.
 */
import path from "node:path";
import pino from "pino";
import { type Config, resolveConfig } from "../../src/config.ts";
import { type CoreOptions, type ServerCore, createServerCore } from "../../src/server.ts";
import { type FixtureModels, writeFixtureModels } from "../fixtures/models.ts";
import { temporaryDirectory } from "./temporary-directory.ts";
import { testDatabase } from "./test-database.ts";

export interface CoreFixture extends AsyncDisposable {
  core: ServerCore;
  fixtures: FixtureModels;
  /** The data directory: model cache (and the SQLite registry unless DATABASE_URL is set). */
  dataDir: string;
}

/** `settings` are config values as the environment would give them (e.g. `{ memoryLimitMb: "300" }`). */
export async function startCore(settings: Partial<Record<keyof Config, string>> = {}, options: CoreOptions = {}): Promise<CoreFixture> {
  const directory = await temporaryDirectory();
  const fixtures = await writeFixtureModels(path.join(directory.path, "fixtures"));
  const dataDir = path.join(directory.path, "data");
  const database = await testDatabase(dataDir);
  // Fixture models live under `directory`: the policy allows reading them, as a deployment's MODELMORA_SOURCE_DIRS would.
  const config = resolveConfig({ dataDir, databaseUrl: database.databaseUrl, sourceDirs: directory.path, ...settings });
  const core = await createServerCore(config, pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }), options);
  return {
    core,
    fixtures,
    dataDir,
    async [Symbol.asyncDispose]() {
      await core.close();
      await database[Symbol.asyncDispose]();
      await directory[Symbol.asyncDispose]();
    },
  };
}

export interface AppAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON, or the text when the answer is not JSON. */
  body: any;
}

/** One in-process HTTP call to `app` (route tests, as Elysia tests itself); a body that is not a string is sent as JSON. */
export async function callApp(app: ServerCore["app"], method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<AppAnswer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const response = await app.handle(new Request(`http://localhost${route}`, init));
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, body: json };
}

/** The ModelMoraError code a promise rejects with, or "resolved". */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}
