/** drizzle-kit for the embedded database (bun:sqlite): src/registry/schema/sqlite.ts → drizzle/sqlite. */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/registry/schema/sqlite.ts",
  out: "./drizzle/sqlite",
});
