/**
 * Large job answers in the database's `job_results` table: the answer's JSON as one bytea (blob on
 * SQLite) per attempt, keyed `<jobId>-<leaseToken>`. The row is one INSERT, committed before the job
 * is marked succeeded (JobStore.complete), so any replica on the same PostgreSQL reads the whole
 * answer as soon as the job says succeeded, and never a part of it.
 */
import { eq } from "drizzle-orm";
import { ModelMoraError } from "../../errors.ts";
import type { OpenDatabase } from "../../registry/database.ts";
import type { ResultStore } from "./result-store.ts";

export class DatabaseResultStore implements ResultStore {
  readonly kind = "database" as const;

  constructor(
    private readonly database: OpenDatabase,
    private readonly now: () => number = Date.now,
  ) {}

  async write(jobId: string, leaseToken: string, json: string): Promise<string> {
    const { db, tables } = this.database;
    const key = `${jobId}-${leaseToken}`;
    const data = Buffer.from(json, "utf8");
    await db.insert(tables.jobResults).values({ key, jobId, data, sizeBytes: data.byteLength, createdAt: new Date(this.now()) });
    return key;
  }

  async read(key: string): Promise<unknown> {
    const { db, tables } = this.database;
    const [row] = await db.select({ data: tables.jobResults.data }).from(tables.jobResults).where(eq(tables.jobResults.key, key)).limit(1);
    if (!row) throw new ModelMoraError("INTERNAL", `the job's result ${key} is missing from the job_results table (this is a bug)`);
    return JSON.parse(Buffer.from(row.data).toString("utf8"));
  }

  async remove(key: string): Promise<void> {
    const { db, tables } = this.database;
    await db.delete(tables.jobResults).where(eq(tables.jobResults.key, key));
  }

  async removeJob(jobId: string): Promise<void> {
    const { db, tables } = this.database;
    await db.delete(tables.jobResults).where(eq(tables.jobResults.jobId, jobId));
  }
}
