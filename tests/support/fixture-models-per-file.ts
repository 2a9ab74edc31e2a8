/**
 * The fixture models in a temporary directory shared by one test file: written before its first
 * test, removed after its last. Call at the top level of the file; read `directory` and `fixtures`
 * inside tests (they are set once `beforeAll` has run).
 *
 * @example
 * const shared = fixtureModelsPerFile();
 * test("…", async () => {
 *   const dataDir = path.join(shared.directory.path, "data");
 *   register({ source: shared.fixtures.add });
 * });
 */
import { afterAll, beforeAll } from "bun:test";
import path from "node:path";
import { type FixtureModels, writeFixtureModels } from "../fixtures/models.ts";
import { type TemporaryDirectory, temporaryDirectory } from "./temporary-directory.ts";

export interface FixtureModelsPerFile {
  readonly directory: TemporaryDirectory;
  readonly fixtures: FixtureModels;
}

export function fixtureModelsPerFile(): FixtureModelsPerFile {
  const shared = {} as { directory: TemporaryDirectory; fixtures: FixtureModels };
  beforeAll(async () => {
    shared.directory = await temporaryDirectory();
    shared.fixtures = await writeFixtureModels(path.join(shared.directory.path, "fixtures"));
  });
  afterAll(async () => shared.directory?.[Symbol.asyncDispose]());
  return shared;
}
