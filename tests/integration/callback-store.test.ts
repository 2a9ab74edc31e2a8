/**
 * Durable callback deliveries on a real database (embedded SQLite, or PostgreSQL when DATABASE_URL
 * is set) with a stepped clock: a job's callback becomes due when the job ends; a claim counts the
 * attempt and hides it from other claimers until its lease passes; failures back off doubling up to
 * the cap; a delivery whose lease lapsed cannot record its outcome over the one that replaced it; the
 * last attempt ends in given_up, also when it was interrupted.
 */
import { expect, test } from "bun:test";
import path from "node:path";
import { CallbackStore } from "../../src/inference/jobs/callback-store.ts";
import { FileResultStore } from "../../src/inference/jobs/file-result-store.ts";
import { DatabaseResultStore } from "../../src/inference/jobs/database-result-store.ts";
import { JobStore, type NewJob } from "../../src/inference/jobs/job-store.ts";
import { openDatabase } from "../../src/registry/database.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";

const CLAIM_MILLISECONDS = 15_000;
const RETRY_BASE_MILLISECONDS = 1_000;
const MAX_DELAY_MILLISECONDS = 3_000;
const MAX_ATTEMPTS = 4;
const JOB: NewJob = { model: "m", version: undefined, priority: 3, request: { kind: "tensor", inputs: [] }, callbackUrl: "http://127.0.0.1:9/hook" };

async function fixture() {
  const directory = await temporaryDirectory();
  const dataDir = path.join(directory.path, "data");
  const database = await testDatabase(dataDir);
  const opened = await openDatabase({ dataDir, databaseUrl: database.databaseUrl });
  const clock = { now: Date.parse("2026-01-01T00:00:00Z") };
  const now = () => clock.now;
  const all = { files: new FileResultStore(dataDir), database: new DatabaseResultStore(opened, now) };
  const jobs = new JobStore(opened, { results: { writer: all.files, all }, maxAttempts: 1, retryBaseMilliseconds: 1_000, inlineResultBytes: 1 << 20, now });
  const callbacks = new CallbackStore(opened, { maxAttempts: MAX_ATTEMPTS, retryBaseMilliseconds: RETRY_BASE_MILLISECONDS, maxDelayMilliseconds: MAX_DELAY_MILLISECONDS, claimMilliseconds: CLAIM_MILLISECONDS, now });
  return {
    jobs,
    callbacks,
    clock,
    async [Symbol.asyncDispose]() {
      await opened.close();
      await database[Symbol.asyncDispose]();
      await directory[Symbol.asyncDispose]();
    },
  };
}

test("a callback is due when its job ends; claims hide it for their lease; failures back off doubling up to the cap, then it is given up", async () => {
  await using f = await fixture();
  const { jobs, callbacks, clock } = f;
  const job = await jobs.submit(JOB);
  const silent = await jobs.submit({ ...JOB, callbackUrl: undefined });
  expect(await callbacks.claim(10)).toEqual([]);
  for (const claim of await jobs.claim("runner", 10, 60_000)) expect(await jobs.complete(claim, { ok: true })).toBe(true);
  expect((await jobs.get(silent.id)).callbackState).toBeNull();
  const delays: number[] = [];
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const claims = await callbacks.claim(10);
    expect(claims.map((claim) => [claim.job.id, claim.attempt])).toEqual([[job.id, attempt]]);
    expect(await callbacks.claim(10)).toEqual([]);
    const outcome = await callbacks.failed(claims[0]!, `HTTP 50${attempt}`);
    const row = await jobs.get(job.id);
    if (attempt < MAX_ATTEMPTS) {
      expect(outcome).toBe("retrying");
      expect(row).toMatchObject({ callbackState: "pending", callbackAttempts: attempt, callbackLastError: `HTTP 50${attempt}` });
      delays.push(row.callbackNextAt!.getTime() - clock.now);
      clock.now += delays.at(-1)! - 1;
      expect(await callbacks.claim(10)).toEqual([]);
      clock.now += 1;
    } else {
      expect(outcome).toBe("given_up");
      expect(row).toMatchObject({ callbackState: "given_up", callbackAttempts: MAX_ATTEMPTS, callbackNextAt: null, callbackLastError: `HTTP 50${attempt}` });
    }
  }
  expect(delays).toEqual([1_000, 2_000, 3_000]);
  clock.now += 3_600_000;
  expect(await callbacks.claim(10)).toEqual([]);
});

test("a delivery whose claim lapsed cannot record its outcome over the claim that replaced it; an interrupted last attempt is given up", async () => {
  await using f = await fixture();
  const { jobs, callbacks, clock } = f;
  const job = await jobs.submit(JOB);
  const [running] = await jobs.claim("runner", 1, 60_000);
  await jobs.fail(running!, { code: "INVALID_INPUT", message: "bad" }, false);
  expect((await jobs.get(job.id)).callbackState).toBe("pending");
  const [slow] = await callbacks.claim(10);
  clock.now += CLAIM_MILLISECONDS + 1;
  const [replacement] = await callbacks.claim(10);
  expect(replacement!.attempt).toBe(2);
  await callbacks.delivered(slow!);
  expect((await jobs.get(job.id)).callbackState).toBe("pending");
  await callbacks.delivered(replacement!);
  expect(await jobs.get(job.id)).toMatchObject({ callbackState: "delivered", callbackAttempts: 2 });

  const other = await jobs.submit(JOB);
  const [otherRun] = await jobs.claim("runner", 1, 60_000);
  await jobs.complete(otherRun!, { ok: true });
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    expect((await callbacks.claim(10)).map((claim) => claim.attempt)).toEqual([attempt]);
    clock.now += CLAIM_MILLISECONDS + 1; // each delivery's server died: its claim lapses
  }
  expect(await callbacks.claim(10)).toEqual([]);
  expect(await jobs.get(other.id)).toMatchObject({ callbackState: "given_up", callbackAttempts: MAX_ATTEMPTS });
});
