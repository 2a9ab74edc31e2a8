/**
 * Jobs bench: asynchronous jobs submitted and completed per second on the PaddleOCR classifier,
 * with one server and (when DATABASE_URL is set) two servers on one PostgreSQL sharing the queue.
 * Per cell: `--jobs` jobs are submitted over REST (`POST /api/v1/infer/{name}/async`, 32 in flight;
 * each body encoded once), then the bench waits until none is queued or running. Reported: submit
 * rate (202s per second, the row written before each), completion rate (jobs succeeded per second
 * from the first submission to the last completion), and failures.
 *
 * One server uses the embedded SQLite database unless DATABASE_URL is set; two servers need
 * PostgreSQL (the cell is left out without it). A fresh database is created per cell and dropped.
 *
 * Run: `bun bench/run.ts jobs [--jobs 500] [--force]` (or `bun bench/jobs.ts …`; env BENCH_JOBS,
 * BENCH_FORCE=1). Not in the default `bun bench/run.ts` sequence. Refuses to start
 * on a busy machine unless forced (bench/lib/load-gate.ts).
 */
import path from "node:path";
import postgres from "postgres";
import { type LoadGate, checkLoadGate, parseForce } from "./lib/load-gate.ts";
import { type ListeningServer, type Children, withBenchSandbox } from "./lib/processes.ts";
import { describeMachine, gitDescription, machineLine, markdownTable, significant, tableHeading } from "./lib/report.ts";
import { CLS_MODEL_PATH, CLS_SHAPE } from "./lib/serve-cells.ts";
import os from "node:os";

const MODEL_NAME = "bench-jobs-cls";
const MODEL_CONFIG = { warmupShapes: { x: CLS_SHAPE }, maxBatchSize: 16, maxQueueDelayMicroseconds: 2000 };
const SUBMISSIONS_IN_FLIGHT = 32;
const JOB_ENVIRONMENT = { MODELMORA_JOB_CONCURRENCY: "32", MODELMORA_JOB_POLL_MILLISECONDS: "100" };

interface CellResult {
  servers: number;
  database: string;
  jobs: number;
  submitSeconds: number;
  completeSeconds: number;
  failed: number;
}

export function parseJobs(argv: readonly string[], environment = process.env): number {
  const index = argv.indexOf("--jobs");
  const raw = index >= 0 ? argv[index + 1] : environment.BENCH_JOBS;
  const jobs = raw === undefined ? 500 : Number(raw);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive integer, got "${raw}"`);
  return jobs;
}

async function call(server: ListeningServer, method: string, route: string, body?: string): Promise<any> {
  const response = await fetch(`http://127.0.0.1:${server.httpPort}${route}`, { method, ...(body !== undefined && { body, headers: { "content-type": "application/json" } }) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** A fresh PostgreSQL database next to DATABASE_URL's, and how to drop it. */
async function freshDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `modelmora_bench_jobs_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
    },
  };
}

function startServer(children: Children, dataDir: string, databaseUrl: string | undefined): Promise<ListeningServer> {
  const root = path.join(import.meta.dir, "..");
  const env: Record<string, string> = { ...JOB_ENVIRONMENT, MODELMORA_SOURCE_DIRS: [path.join(root, "node_modules"), os.tmpdir()].join(","), ...(databaseUrl && { DATABASE_URL: databaseUrl }) };
  return children.startServer("ModelMora", [process.execPath, path.join(root, "src", "cli.ts"), "serve", "--port", "0", "--grpc-port", "0", "--data-dir", dataDir], { env });
}

async function runCell(children: Children, directory: string, servers: number, jobs: number): Promise<CellResult> {
  const adminUrl = process.env.DATABASE_URL;
  const database = adminUrl ? await freshDatabase(adminUrl) : undefined;
  try {
    const started = await Promise.all(Array.from({ length: servers }, (_, index) => startServer(children, path.join(directory, `cell-${servers}-${index}`), database?.url)));
    await call(started[0]!, "POST", "/api/v1/models", JSON.stringify({ name: MODEL_NAME, version: "1", task: "tensor", source: CLS_MODEL_PATH, config: MODEL_CONFIG }));
    for (const server of started) await call(server, "POST", `/api/v1/models/${MODEL_NAME}/load`);
    const count = CLS_SHAPE.reduce((product, dimension) => product * dimension, 1);
    const body = JSON.stringify({ inputs: [{ name: "x", shape: CLS_SHAPE, datatype: "FP32", data: Array.from({ length: count }, (_, index) => ((index * 7919) % 1000) / 1000) }] });
    const origin = performance.now();
    let next = 0;
    const submitter = async () => {
      while (next < jobs) {
        const job = next++;
        await call(started[job % servers]!, "POST", `/api/v1/infer/${MODEL_NAME}/async`, body);
      }
    };
    await Promise.all(Array.from({ length: SUBMISSIONS_IN_FLIGHT }, submitter));
    const submitSeconds = (performance.now() - origin) / 1000;
    for (;;) {
      const [queued, running] = await Promise.all(["queued", "running"].map((status) => call(started[0]!, "GET", `/api/v1/jobs?status=${status}&limit=1`)));
      if (queued.jobs.length === 0 && running.jobs.length === 0) break;
      await Bun.sleep(20);
    }
    const completeSeconds = (performance.now() - origin) / 1000;
    let failed = 0;
    for (let offset = 0; ; offset += 500) {
      const page = await call(started[0]!, "GET", `/api/v1/jobs?status=failed&limit=500&offset=${offset}`);
      failed += page.jobs.length;
      if (page.nextOffset === null) break;
    }
    for (const server of started) await children.stop(server.process);
    return { servers, database: database ? "PostgreSQL" : "SQLite", jobs, submitSeconds, completeSeconds, failed };
  } finally {
    await database?.drop();
  }
}

export async function runJobsBench(jobs: number, gate: LoadGate): Promise<void> {
  await withBenchSandbox("modelmora-bench-jobs-", async (children, directory) => {
    const machine = describeMachine();
    const cells: CellResult[] = [];
    for (const servers of process.env.DATABASE_URL ? [1, 2] : [1]) {
      process.stderr.write(`jobs bench: ${servers} server(s), ${jobs} jobs …\n`);
      cells.push(await runCell(children, directory, servers, jobs));
    }
    process.stdout.write(`\n## Jobs\n\n${machineLine(machine)} · load average ${gate.loadAverageOneMinute.toFixed(2)} at start${gate.quiet ? "" : " · NOT QUIET"}\n`);
    process.stdout.write(`\`bun bench/run.ts jobs --jobs ${jobs}${gate.quiet ? "" : " --force"}\` · ModelMora at ${gitDescription()}\n\n${tableHeading(gate)}`);
    process.stdout.write(
      markdownTable(
        ["servers", "database", "jobs", "submitted / s", "completed / s", "failed"],
        cells.map((cell) => [String(cell.servers), cell.database, String(cell.jobs), significant(cell.jobs / cell.submitSeconds), significant((cell.jobs - cell.failed) / cell.completeSeconds), String(cell.failed)]),
      ) + "\n",
    );
    if (!process.env.DATABASE_URL) process.stdout.write("\nTwo servers need PostgreSQL: set DATABASE_URL to run that cell.\n");
  });
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  await runJobsBench(parseJobs(argv), checkLoadGate(parseForce(argv)));
}
