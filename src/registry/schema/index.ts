/**
 * The registry's schema, once per dialect: ./pg.ts (PostgreSQL) and ./sqlite.ts (the embedded
 * default). Drizzle's pg-core and sqlite-core are different table builders, so each dialect has its
 * own small file and its own drizzle-kit migrations (drizzle/pg, drizzle/sqlite; `npm run
 * db:generate` regenerates both). The registry writes one set of queries against `Tables`; the
 * checks below fail the type check when the two files stop describing the same rows.
 */
import type * as pg from "./pg.ts";
import type * as sqlite from "./sqlite.ts";

export type Tables = typeof pg;
export type ModelRow = typeof pg.models.$inferSelect;
export type ModelVersionRow = typeof pg.modelVersions.$inferSelect;
export type JobRow = typeof pg.jobs.$inferSelect;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Expect<T extends true> = T;

/** Compile-time only: rows read and written are the same on both dialects. */
export type SchemasAgree = [
  Expect<Same<ModelRow, typeof sqlite.models.$inferSelect>>,
  Expect<Same<ModelVersionRow, typeof sqlite.modelVersions.$inferSelect>>,
  Expect<Same<typeof pg.models.$inferInsert, typeof sqlite.models.$inferInsert>>,
  Expect<Same<typeof pg.modelVersions.$inferInsert, typeof sqlite.modelVersions.$inferInsert>>,
  Expect<Same<keyof typeof pg.models._.columns, keyof typeof sqlite.models._.columns>>,
  Expect<Same<JobRow, typeof sqlite.jobs.$inferSelect>>,
  Expect<Same<typeof pg.jobs.$inferInsert, typeof sqlite.jobs.$inferInsert>>,
  Expect<Same<typeof pg.jobResults.$inferSelect, typeof sqlite.jobResults.$inferSelect>>,
  Expect<Same<typeof pg.jobResults.$inferInsert, typeof sqlite.jobResults.$inferInsert>>,
];
