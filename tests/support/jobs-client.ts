/**
 * A small HTTP client for the jobs API of real server processes, and the job facts tests check
 * across restarts and replicas (which server wrote which result, from the `job_succeeded` lines).
 */
import type { ServerProcess } from "./server-fixture.ts";
import { waitFor } from "./wait.ts";

export interface JobStatusView {
  jobId: string;
  status: string;
  attempts: number;
  error: { code: string; message: string } | null;
}

export async function jsonCall(baseUrl: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}${route}`, {
    method,
    ...(body !== undefined && { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });
  return { status: response.status, body: await response.json() };
}

export async function submitJob(baseUrl: string, model: string, body: unknown): Promise<string> {
  const answer = await jsonCall(baseUrl, "POST", `/api/v1/infer/${model}/async`, body);
  if (answer.status !== 202) throw new Error(`submission answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body.jobId;
}

/** Every job listed by `baseUrl` (all pages). */
export async function listAllJobs(baseUrl: string): Promise<JobStatusView[]> {
  const jobs: JobStatusView[] = [];
  let route: string | null = "/api/v1/jobs?limit=500";
  while (route) {
    const page: { body: any } = await jsonCall(baseUrl, "GET", route);
    jobs.push(...page.body.jobs);
    route = page.body.links.next;
  }
  return jobs;
}

/** Waits until no job listed by `baseUrl` is queued or running. */
export async function waitAllSettled(baseUrl: string, what: string, timeoutMilliseconds: number): Promise<JobStatusView[]> {
  return waitFor(
    async () => {
      const jobs = await listAllJobs(baseUrl);
      return jobs.every((job) => job.status !== "queued" && job.status !== "running") ? jobs : undefined;
    },
    what,
    { timeoutMilliseconds, intervalMilliseconds: 100 },
  );
}

/** Job ids each `job_succeeded` line names, over all the given server processes (a job written twice shows twice). */
export function succeededJobIds(servers: ServerProcess[]): string[] {
  return servers.flatMap((server) => server.logs.filter((line) => line.event === "job_succeeded").map((line) => line.job_id as string));
}
