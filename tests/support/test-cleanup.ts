/**
 * Preloaded before every test file (bunfig.toml `[test] preload`): its afterAll is global, so it
 * runs once after the last test of the process and removes what tests share across files (the
 * PGlite template of test-database.ts), leaving nothing in the temp directory.
 */
import { afterAll } from "bun:test";
import { removePgliteTemplate } from "./test-database.ts";

afterAll(() => removePgliteTemplate());
