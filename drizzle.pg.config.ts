/** drizzle-kit for PostgreSQL (DATABASE_URL): src/registry/schema/pg.ts → drizzle/pg. */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/registry/schema/pg.ts",
  out: "./drizzle/pg",
});
