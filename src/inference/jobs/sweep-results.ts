/**
 * The TTL sweeper's one pass: finished jobs older than the cutoff become `expired`, their inline
 * results are cleared and their stored results deleted from both result stores (every attempt's,
 * so an answer stored by an attempt that then lost its lease or crashed goes too); a callback still
 * pending is given up. Each row is expired with a conditional UPDATE, so a job swept by two replicas
 * at once is expired once (deleting its stored results twice is harmless).
 */
import { and, eq, inArray, lt, sql } from "drizzle-orm";
import type { OpenDatabase } from "../../registry/database.ts";
import type { ResultStores } from "./result-store.ts";

/** Answers how many jobs were past the cutoff. */
export async function sweepResults(database: OpenDatabase, results: ResultStores, cutoff: Date, now: () => number): Promise<number> {
  const { db, tables } = database;
  const { jobs } = tables;
  const old = await db
    .select({ id: jobs.id, status: jobs.status })
    .from(jobs)
    .where(and(inArray(jobs.status, ["succeeded", "failed", "cancelled"]), lt(jobs.finishedAt, cutoff)));
  for (const job of old) {
    const [swept] = await db
      .update(jobs)
      .set({
        status: "expired",
        result: null,
        resultPath: null,
        resultStore: null,
        resultSizeBytes: null,
        updatedAt: new Date(now()),
        callbackState: sql`case when ${jobs.callbackState} = 'pending' then 'given_up' else ${jobs.callbackState} end`,
        callbackLastError: sql`case when ${jobs.callbackState} = 'pending' then 'the job expired before its callback was delivered' else ${jobs.callbackLastError} end`,
      })
      .where(and(eq(jobs.id, job.id), eq(jobs.status, job.status)))
      .returning({ id: jobs.id });
    if (swept) for (const store of Object.values(results.all)) await store.removeJob(job.id);
  }
  return old.length;
}
