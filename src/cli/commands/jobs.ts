/**
 * `modelmora jobs list|get|result|cancel|submit`: asynchronous jobs on a running server
 * (REST /api/v1/jobs and /api/v1/infer/{name}/async).
 */
import { stringFlag } from "../arguments.ts";
import type { Command } from "../command.ts";
import { SERVER_ONLY_FLAGS, connectServer } from "../connect.ts";
import { EXIT, usageError } from "../exit-codes.ts";
import { json, keyValues, table } from "../output.ts";
import { readBody } from "./infer.ts";
import type { JobView } from "../../inference/jobs/jobs-service.ts";

/** A job as the server answers it (GET /api/v1/jobs/{id}). */
type JobAnswer = JobView;

const ACTIONS = ["list", "get", "result", "cancel", "submit"];

export const jobsCommand: Command = {
  spec: {
    name: "jobs",
    summary: "Submit, list, inspect, fetch and cancel asynchronous jobs on the server.",
    positionals: [
      { name: "action", description: ACTIONS.join(" | ") },
      { name: "id-or-model", description: "get/result/cancel: the job id; submit: the model name", optional: true },
    ],
    flags: [
      { flag: "--input", value: "FILE", description: "submit: the request body as JSON (as for infer); - reads stdin" },
      { flag: "--version", value: "VERSION", description: "submit: a version other than the active one" },
      { flag: "--priority", value: "PRIORITY", description: "submit: 1..4 or critical|high|normal|low" },
      { flag: "--status", value: "STATUS", description: "list: queued | running | succeeded | failed | cancelled | expired" },
      { flag: "--model", value: "NAME", description: "list: only this model's jobs" },
      { flag: "--limit", value: "N", description: "list: at most N jobs (default 100, at most 500)" },
      ...SERVER_ONLY_FLAGS,
    ],
    notes: `submit prints the job id; result prints the answer as JSON (exit 1 with JOB_NOT_READY while it runs).
--json prints the server's answers as they are.`,
  },
  async run(args, { io, json: asJson }) {
    const [action, target] = args.positionals as [string, string | undefined];
    if (!ACTIONS.includes(action)) throw usageError(`unknown action "${action}": use ${ACTIONS.join(", ")}`);
    if (action !== "list" && target === undefined) throw usageError(`jobs ${action} needs ${action === "submit" ? "a model name" : "a job id"}`);
    const client = connectServer(args, io);
    const job = (id: string) => `/api/v1/jobs/${encodeURIComponent(id)}`;
    switch (action) {
      case "submit": {
        const inputPath = stringFlag(args, "--input");
        if (inputPath === undefined) throw usageError("--input FILE is required (a JSON request body; - for stdin)");
        const body = (await readBody(inputPath, io.cwd)) as Record<string, unknown>;
        const priority = stringFlag(args, "--priority");
        const version = stringFlag(args, "--version");
        const withPriority = priority === undefined ? body : { ...body, parameters: { ...(body.parameters as object | undefined), priority } };
        const accepted = await client.post<{ jobId: string }>(`/api/v1/infer/${encodeURIComponent(target!)}/async${version ? `?version=${encodeURIComponent(version)}` : ""}`, withPriority);
        io.stdout(asJson ? json(accepted) : `${accepted.jobId}\n`);
        return EXIT.ok;
      }
      case "result":
        io.stdout(json(await client.get(`${job(target!)}/result`)));
        return EXIT.ok;
      case "get":
      case "cancel": {
        const answer = action === "get" ? await client.get<JobAnswer>(job(target!)) : (await client.request<JobAnswer>("DELETE", job(target!))).body;
        io.stdout(asJson ? json(answer) : describe(answer));
        return EXIT.ok;
      }
      default: {
        const query = new URLSearchParams();
        for (const [flag, key] of [["--status", "status"], ["--model", "model"], ["--limit", "limit"]] as const) {
          const value = stringFlag(args, flag);
          if (value !== undefined) query.set(key, value);
        }
        const page = await client.get<{ jobs: JobAnswer[] }>(`/api/v1/jobs${query.size ? `?${query}` : ""}`);
        if (asJson) io.stdout(json(page));
        else io.stdout(page.jobs.length ? table(["JOB", "STATUS", "MODEL", "PRIORITY", "ATTEMPTS", "CREATED"], page.jobs.map((each) => [each.jobId, each.status, each.model, each.priority, `${each.attempts}/${each.maxAttempts}`, each.createdAt])) : "no jobs\n");
        return EXIT.ok;
      }
    }
  },
};

function describe(job: JobAnswer): string {
  return keyValues([
    ["job", job.jobId],
    ["status", job.status],
    ["model", job.version ? `${job.model} ${job.version}` : job.model],
    ["priority", job.priority],
    ["attempts", `${job.attempts}/${job.maxAttempts}`],
    ["created", job.createdAt],
    ["started", job.startedAt],
    ["finished", job.finishedAt],
    ["error", job.error ? `${job.error.code}: ${job.error.message}` : null],
  ]);
}
