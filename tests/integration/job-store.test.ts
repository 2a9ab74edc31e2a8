/**
 * The job store on a real database (embedded SQLite, or PostgreSQL when DATABASE_URL is set) with
 * a stepped clock: leases, renewal, a result written only under the current lease, retry with
 * doubling backoff after a lease expires, failure after maxAttempts, cancel, sweeping of results
 * (rows, files and job_results rows, with either result store) after their TTL.
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import path from "node:path";
import { eq } from "drizzle-orm";
import { DatabaseResultStore } from "../../src/inference/jobs/database-result-store.ts";
import { FileResultStore } from "../../src/inference/jobs/file-result-store.ts";
import { JobStore, type NewJob } from "../../src/inference/jobs/job-store.ts";
import { RESULT_STORE_KINDS, type ResultStoreKind } from "../../src/inference/jobs/job-types.ts";
import { openDatabase } from "../../src/registry/database.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";

const LEASE_MILLISECONDS = 10_000;
const RETRY_BASE_MILLISECONDS = 1_000;
const MAX_ATTEMPTS = 3;
const INLINE_RESULT_BYTES = 100;

const JOB: NewJob = { model: "m", version: undefined, priority: 3, request: { kind: "tensor", inputs: [{ name: "x", shape: [1], datatype: "FP32", data: [1] }] } };

async function storeFixture(resultStore: ResultStoreKind = "files") {
  const directory = await temporaryDirectory();
  const dataDir = path.join(directory.path, "data");
  const database = await testDatabase(dataDir);
  const opened = await openDatabase({ dataDir, databaseUrl: database.databaseUrl });
  const clock = { now: Date.parse("2026-01-01T00:00:00Z") };
  const all = { files: new FileResultStore(dataDir), database: new DatabaseResultStore(opened) };
  const store = new JobStore(opened, { results: { writer: all[resultStore], all }, maxAttempts: MAX_ATTEMPTS, retryBaseMilliseconds: RETRY_BASE_MILLISECONDS, inlineResultBytes: INLINE_RESULT_BYTES, now: () => clock.now });
  return {
    store,
    clock,
    dataDir,
    opened,
    results: all,
    async [Symbol.asyncDispose]() {
      await opened.close();
      await database[Symbol.asyncDispose]();
      await directory[Symbol.asyncDispose]();
    },
  };
}

test("an expired lease is retried with doubling backoff and the job fails after maxAttempts; the old holder's result is dropped", async () => {
  await using fixture = await storeFixture();
  const { store, clock } = fixture;
  const job = await store.submit(JOB);
  const backoffs: number[] = [];
  let stale;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const claims = await store.claim(`server-${attempt}`, 5, LEASE_MILLISECONDS);
    expect(claims.map((claim) => [claim.job.id, claim.job.attempts])).toEqual([[job.id, attempt]]);
    expect(await store.claim("other", 5, LEASE_MILLISECONDS)).toEqual([]);
    stale = claims[0]!;
    clock.now += LEASE_MILLISECONDS + 1;
    const recovered = await store.recoverExpired();
    const counts = { retried: recovered.retried.length, failed: recovered.failed.length };
    const row = await store.get(job.id);
    if (attempt < MAX_ATTEMPTS) {
      expect(counts).toEqual({ retried: 1, failed: 0 });
      expect(row.status).toBe("queued");
      backoffs.push(row.runAfter.getTime() - clock.now);
      // Not claimable before its backoff is over.
      expect(await store.claim("early", 5, LEASE_MILLISECONDS)).toEqual([]);
      clock.now = row.runAfter.getTime();
    } else {
      expect(recovered).toEqual({ retried: [], failed: [job.id] });
      expect(row).toMatchObject({ status: "failed", attempts: MAX_ATTEMPTS, error: { code: "INFERENCE_FAILED" } });
    }
  }
  expect(backoffs).toEqual([RETRY_BASE_MILLISECONDS, 2 * RETRY_BASE_MILLISECONDS]);
  expect(await store.complete(stale!, { late: true })).toBe(false);
  expect((await store.get(job.id)).result).toBeNull();
});

test("a renewed lease does not expire; a reclaimed job's first holder can neither renew nor complete", async () => {
  await using fixture = await storeFixture();
  const { store, clock } = fixture;
  const job = await store.submit(JOB);
  const [first] = await store.claim("a", 1, LEASE_MILLISECONDS);
  clock.now += LEASE_MILLISECONDS - 1;
  expect(await store.renew([first!], LEASE_MILLISECONDS)).toEqual(new Set([job.id]));
  clock.now += LEASE_MILLISECONDS - 1;
  expect(await store.recoverExpired()).toEqual({ retried: [], failed: [] });
  clock.now += 2;
  expect(await store.recoverExpired()).toEqual({ retried: [job.id], failed: [] });
  clock.now += RETRY_BASE_MILLISECONDS;
  const [second] = await store.claim("b", 1, LEASE_MILLISECONDS);
  expect(second!.token).not.toBe(first!.token);
  expect(await store.renew([first!], LEASE_MILLISECONDS)).toEqual(new Set());
  expect(await store.complete(first!, { from: "a" })).toBe(false);
  expect(await store.complete(second!, { from: "b" })).toBe(true);
  expect(await store.complete(second!, { from: "b again" })).toBe(false);
  const done = await store.get(job.id);
  expect(done).toMatchObject({ status: "succeeded", attempts: 2 });
  expect(await store.readResult(done)).toEqual({ from: "b" });
});

test("claims go by priority, then age; cancel stops a running job's completion; finished jobs keep their state", async () => {
  await using fixture = await storeFixture();
  const { store, clock } = fixture;
  const low = await store.submit({ ...JOB, priority: 4 });
  clock.now += 1;
  const high = await store.submit({ ...JOB, priority: 1 });
  clock.now += 1;
  const normal = await store.submit({ ...JOB, priority: 3 });
  const claims = await store.claim("a", 2, LEASE_MILLISECONDS);
  expect(claims.map((claim) => claim.job.id)).toEqual([high.id, normal.id]);
  expect((await store.cancel(high.id)).status).toBe("cancelled");
  expect(await store.complete(claims[0]!, { x: 1 })).toBe(false);
  expect(await store.renew(claims, LEASE_MILLISECONDS)).toEqual(new Set([normal.id]));
  expect(await store.complete(claims[1]!, { x: 2 })).toBe(true);
  expect((await store.cancel(normal.id)).status).toBe("succeeded");
  expect((await store.cancel(low.id)).status).toBe("cancelled");
  expect(await store.claim("a", 5, LEASE_MILLISECONDS)).toEqual([]);
  expect(await store.queuedCount()).toBe(0);
});

for (const kind of RESULT_STORE_KINDS) {
  test(`a large result goes to the ${kind} result store whole; after the TTL the sweeper deletes inline results, stored ones (a lost attempt's too) and marks jobs expired`, async () => {
    await using fixture = await storeFixture(kind);
    const { store, clock, dataDir, opened } = fixture;
    const stored = async (key: string): Promise<boolean> => {
      if (kind === "files") return existsSync(path.join(dataDir, key));
      const rows = await opened.db.select({ key: opened.tables.jobResults.key }).from(opened.tables.jobResults).where(eq(opened.tables.jobResults.key, key));
      return rows.length === 1;
    };
    const small = await store.submit(JOB);
    const large = await store.submit(JOB);
    const claims = await store.claim("a", 2, LEASE_MILLISECONDS);
    const byId = new Map(claims.map((claim) => [claim.job.id, claim]));
    const bigAnswer = { values: Array.from({ length: 200 }, (_, index) => index / 7) };
    // An attempt that crashed after storing its answer, before the row said succeeded: an orphan only the sweeper finds.
    const orphanKey = await fixture.results[kind].write(large.id, "crashed-attempt", JSON.stringify({ stale: true }));
    expect(await store.complete(byId.get(small.id)!, { v: 1 })).toBe(true);
    expect(await store.complete(byId.get(large.id)!, bigAnswer)).toBe(true);
    const smallRow = await store.get(small.id);
    const largeRow = await store.get(large.id);
    expect(smallRow).toMatchObject({ result: { v: 1 }, resultPath: null, resultStore: null });
    expect(largeRow).toMatchObject({ result: null, resultStore: kind });
    expect(largeRow.resultSizeBytes).toBe(Buffer.byteLength(JSON.stringify(bigAnswer)));
    expect(await stored(largeRow.resultPath!)).toBe(true);
    expect(await stored(orphanKey)).toBe(true);
    expect(await store.readResult(largeRow)).toEqual(bigAnswer);
    const ttlMilliseconds = 60_000;
    clock.now += ttlMilliseconds - 1;
    expect(await store.sweep(ttlMilliseconds)).toBe(0);
    clock.now += 2;
    expect(await store.sweep(ttlMilliseconds)).toBe(2);
    expect(await store.get(small.id)).toMatchObject({ status: "expired", result: null });
    expect(await store.get(large.id)).toMatchObject({ status: "expired", resultPath: null, resultStore: null });
    expect(await stored(largeRow.resultPath!)).toBe(false);
    expect(await stored(orphanKey)).toBe(false);
  });
}

test("an attempt whose lease was lost stores no answer: its stored result is deleted at once (database store)", async () => {
  await using fixture = await storeFixture("database");
  const { store, opened } = fixture;
  const job = await store.submit(JOB);
  const [claim] = await store.claim("a", 1, LEASE_MILLISECONDS);
  await store.cancel(job.id);
  expect(await store.complete(claim!, { values: Array.from({ length: 200 }, (_, index) => index) })).toBe(false);
  expect(await opened.db.select().from(opened.tables.jobResults)).toEqual([]);
});

test("a page of the list is newest first and filtered by status and model", async () => {
  await using fixture = await storeFixture();
  const { store, clock } = fixture;
  const ids: string[] = [];
  for (let index = 0; index < 5; index++) {
    clock.now += 1;
    ids.push((await store.submit({ ...JOB, model: index % 2 === 0 ? "even" : "odd" })).id);
  }
  await store.cancel(ids[4]!);
  const first = await store.list({ limit: 2, offset: 0 });
  expect(first.jobs.map((job) => job.id)).toEqual([ids[4]!, ids[3]!]);
  expect(first.nextOffset).toBe(2);
  const last = await store.list({ limit: 2, offset: 4 });
  expect(last.jobs.map((job) => job.id)).toEqual([ids[0]!]);
  expect(last.nextOffset).toBeUndefined();
  expect((await store.list({ model: "even", status: "queued", limit: 10, offset: 0 })).jobs.map((job) => job.id)).toEqual([ids[2]!, ids[0]!]);
});

test("a job keeps the key that submitted it; the list filters by that key, and a job with no key is listed only unfiltered", async () => {
  await using fixture = await storeFixture();
  const { store, clock } = fixture;
  const owners = ["key-a", "key-b", undefined, "key-a"];
  const ids: string[] = [];
  for (const ownerKeyId of owners) {
    clock.now += 1;
    const row = await store.submit({ ...JOB, ownerKeyId });
    expect(row.ownerKeyId).toBe(ownerKeyId ?? null);
    ids.push(row.id);
  }
  expect((await store.get(ids[1]!)).ownerKeyId).toBe("key-b");
  const listed = async (ownerKeyId: string) => (await store.list({ ownerKeyId, limit: 10, offset: 0 })).jobs.map((job) => job.id);
  expect(await listed("key-a")).toEqual([ids[3]!, ids[0]!]);
  expect(await listed("key-b")).toEqual([ids[1]!]);
  expect(await listed("key-c")).toEqual([]);
  expect((await store.list({ limit: 10, offset: 0 })).jobs.map((job) => job.id)).toEqual([...ids].reverse());
});
