/**
 * Builds the job machinery of one server (store, runner, service) over its database, so the
 * composition root wires jobs in a line: `const jobs = createJobs(…)`, `await jobs.start()`.
 */
import os from "node:os";
import type { Logger } from "../../observability/logger.ts";
import type { OpenDatabase } from "../../registry/database.ts";
import type { ModelsService } from "../models-service.ts";
import type { InferenceService } from "../service.ts";
import { executeJob } from "./execute-job.ts";
import { JobRunner } from "./job-runner.ts";
import { type JobSettings, jobSettingsFromEnvironment } from "./job-settings.ts";
import { JobStore } from "./job-store.ts";
import { JobsService } from "./jobs-service.ts";
import { FileResultStore } from "./file-result-store.ts";
import { DatabaseResultStore } from "./database-result-store.ts";
import { Callbacks } from "./callbacks.ts";
import { CallbackStore } from "./callback-store.ts";
import type { SourcePolicy } from "../../security/source-policy.ts";

/** The PostgreSQL NOTIFY channel job submissions are announced on. */
const JOBS_CHANNEL = "modelmora_jobs";

export interface Jobs {
  service: JobsService;
  runner: JobRunner;
  store: JobStore;
  settings: JobSettings;
  /** Recovers jobs a dead server left running, then starts claiming. */
  start(): Promise<void>;
  /** Graceful shutdown: no new claims; running jobs finish while the inference queue drains. */
  stopClaiming(): void;
  /** Stops the runner; jobs still running go back to the queue. */
  close(): Promise<void>;
}

export function createJobs(options: {
  database: OpenDatabase;
  inference: InferenceService;
  models: ModelsService;
  dataDir: string;
  logger: Logger;
  environment: Record<string, string | undefined>;
  /** Where callback URLs may point (the source policy's host rules). */
  policy: SourcePolicy;
}): Jobs {
  const settings = jobSettingsFromEnvironment(options.environment);
  const resultStores = { files: new FileResultStore(options.dataDir), database: new DatabaseResultStore(options.database) };
  const writer = resultStores[settings.resultStore ?? (options.database.kind === "postgres" ? "database" : "files")];
  const store = new JobStore(options.database, {
    results: { writer, all: resultStores },
    maxAttempts: settings.maxAttempts,
    retryBaseMilliseconds: settings.retryBaseMilliseconds,
    inlineResultBytes: settings.inlineResultBytes,
  });
  const callbackTimeoutMilliseconds = 10_000;
  const deliveries = new CallbackStore(options.database, {
    maxAttempts: settings.callbackAttempts,
    retryBaseMilliseconds: settings.retryBaseMilliseconds,
    maxDelayMilliseconds: settings.callbackMaxDelayMilliseconds,
    claimMilliseconds: callbackTimeoutMilliseconds + 5_000,
  });
  const callbacks = new Callbacks(store, deliveries, {
    policy: options.policy,
    secret: options.environment.MODELMORA_JOB_CALLBACK_SECRET || undefined,
    timeoutMilliseconds: callbackTimeoutMilliseconds,
    pollMilliseconds: settings.pollMilliseconds,
    logger: options.logger,
  });
  const runner = new JobRunner({
    store,
    settings,
    owner: `${os.hostname()}:${process.pid}`,
    recoverEveryRunningAtStart: options.database.kind === "sqlite",
    logger: options.logger,
    execute: (job, signal) => executeJob(options.inference, job, signal),
    onFinished: () => callbacks.wake(),
  });
  const service = new JobsService(
    store,
    () => {
      runner.wake();
      void options.database.notify?.(JOBS_CHANNEL).catch(() => undefined);
    },
    options.models,
    (url) => callbacks.check(url),
  );
  return {
    service,
    runner,
    store,
    settings,
    async start() {
      // On PostgreSQL a job submitted to any replica wakes every idle runner (polling stays the fallback).
      await options.database.listen?.(JOBS_CHANNEL, () => runner.wake());
      await runner.start();
      callbacks.start();
    },
    stopClaiming: () => runner.stopClaiming(),
    async close() {
      await runner.close();
      await callbacks.close();
    },
  };
}
