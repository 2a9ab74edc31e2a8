/**
 * Job metrics read at scrape time: `modelmora_jobs_queued` (jobs waiting to run, across every
 * replica on the same database: the queue depth to autoscale on) and `modelmora_jobs_running`
 * (jobs this server is running).
 */
import { Gauge } from "prom-client";
import type { Jobs } from "../inference/jobs/create-jobs.ts";
import type { Metrics } from "./metrics.ts";

export function registerJobMetrics(metrics: Metrics, jobs: Pick<Jobs, "service" | "runner">): void {
  const registers = [metrics.registry];
  new Gauge({
    name: "modelmora_jobs_queued",
    help: "Asynchronous jobs waiting to run, on every server sharing this database",
    registers,
    async collect() {
      this.set(await jobs.service.queuedCount());
    },
  });
  new Gauge({
    name: "modelmora_jobs_running",
    help: "Asynchronous jobs this server is running",
    registers,
    collect() {
      this.set(jobs.runner.runningCount());
    },
  });
}
