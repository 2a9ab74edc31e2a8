/**
 * The job runner's lease bookkeeping with a fake store (policy only; the real store on both
 * databases: tests/integration/job-store.test.ts, tests/e2e/jobs-*.test.ts): a renewal aborts only the
 * jobs it asked about and the store no longer holds for us. A job claimed while a renewal was in
 * flight was not part of it and must keep running — aborting it left the job `running` in the
 * database, unrenewed, until its lease ran out (seen as 30 s stalls with two servers sharing work).
 */
import { expect, test } from "bun:test";
import pino from "pino";
import { JobRunner } from "../../src/inference/jobs/job-runner.ts";
import { JOB_DEFAULTS } from "../../src/inference/jobs/job-settings.ts";
import type { Claim, JobStore } from "../../src/inference/jobs/job-store.ts";
import type { JobRow } from "../../src/registry/schema/index.ts";

function claimOf(id: string): Claim {
  return { job: { id, attempts: 1, maxAttempts: 3, priority: 3 } as JobRow, token: `token-${id}` };
}

test("a renewal aborts only the jobs it asked about: one claimed meanwhile keeps running and completes", async () => {
  const queue = [[claimOf("a")], [claimOf("b")]];
  let finishRenewal!: () => void;
  const renewalAsked: string[][] = [];
  const completed: string[] = [];
  const store = {
    claim: async () => queue.shift() ?? [],
    renew: async (claims: Claim[]) => {
      renewalAsked.push(claims.map((claim) => claim.job.id));
      await new Promise<void>((resolve) => (finishRenewal = resolve));
      return new Set(claims.map((claim) => claim.job.id));
    },
    complete: async (claim: Claim) => {
      completed.push(claim.job.id);
      return true;
    },
    recoverExpired: async () => ({ retried: [], failed: [] }),
  } as unknown as JobStore;
  const aborted = new Map<string, AbortSignal>();
  const finish = new Map<string, () => void>();
  const runner = new JobRunner({
    store,
    settings: { ...JOB_DEFAULTS, concurrency: 8 },
    owner: "test",
    recoverEveryRunningAtStart: false,
    logger: pino({ level: "silent" }),
    execute: (job, signal) => {
      aborted.set(job.id, signal);
      return new Promise((resolve) => finish.set(job.id, () => resolve({ ok: job.id })));
    },
  });
  const internals = runner as unknown as { claimWork(): Promise<void>; renewAndRecover(): Promise<void> };

  await internals.claimWork(); // a is running
  expect([...aborted.keys()]).toEqual(["a"]);
  const renewal = internals.renewAndRecover(); // asks about a; the store answers later
  await Bun.sleep(1);
  expect(renewalAsked).toEqual([["a"]]);
  await internals.claimWork(); // b is claimed while the renewal is in flight
  expect([...aborted.keys()]).toEqual(["a", "b"]);
  finishRenewal();
  await renewal;

  expect(aborted.get("a")!.aborted).toBe(false);
  expect(aborted.get("b")!.aborted).toBe(false);
  finish.get("a")!();
  finish.get("b")!();
  await Bun.sleep(5);
  expect(completed.sort()).toEqual(["a", "b"]);
  await runner.close();
});

test("a renewal that finds a lease gone aborts that job", async () => {
  const store = {
    claim: async () => [claimOf("a"), claimOf("b")],
    renew: async () => new Set(["a"]),
    complete: async () => true,
    recoverExpired: async () => ({ retried: [], failed: [] }),
  } as unknown as JobStore;
  const signals = new Map<string, AbortSignal>();
  const runner = new JobRunner({
    store,
    settings: { ...JOB_DEFAULTS, concurrency: 2 },
    owner: "test",
    recoverEveryRunningAtStart: false,
    logger: pino({ level: "silent" }),
    execute: (job, signal) => {
      signals.set(job.id, signal);
      return new Promise(() => undefined);
    },
  });
  const internals = runner as unknown as { claimWork(): Promise<void>; renewAndRecover(): Promise<void> };
  await internals.claimWork();
  await internals.renewAndRecover();
  expect(signals.get("a")!.aborted).toBe(false);
  expect(signals.get("b")!.aborted).toBe(true);
});
