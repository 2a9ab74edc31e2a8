/**
 * `bun bench/run.ts [scheduler|serve|coldstart|grpc|priority|embeddings|ocr] [flags]`: runs the
 * scheduler microbenchmark, the serving bench, the cold-start bench, the gRPC bench, the priority
 * bench, the embeddings bench and the OCR bench in that order (or only the one named). Tables go to stdout, progress to stderr.
 * `bun bench/run.ts jobs [--jobs N]` runs the jobs bench (bench/jobs.ts), which is only run when named:
 * its two-server cell needs DATABASE_URL (PostgreSQL), and it takes minutes.
 *
 * Before anything, the load gate (bench/lib/load-gate.ts): the 1-minute load average is printed,
 * and the run refuses to start above 0.5 unless `--force` (BENCH_FORCE=1) is given, in which case
 * every table is marked NOT QUIET. See bench/README.md for what each bench measures.
 */
import { parseColdstartOptions, runColdstartBench } from "./coldstart.ts";
import { parseGrpcOptions, runGrpcBench } from "./grpc.ts";
import { checkLoadGate, parseForce, quietnessMark } from "./lib/load-gate.ts";
import { parsePriorityOptions, runPriorityBench } from "./priority.ts";
import { runSchedulerBench } from "./scheduler.ts";
import { runEmbeddingsBench } from "./embeddings.ts";
import { runOcrBench } from "./ocr.ts";
import { parseJobs, runJobsBench } from "./jobs.ts";
import { parseServeOptions, runServeBench } from "./serve.ts";

const BENCHES = ["scheduler", "serve", "coldstart", "grpc", "priority", "embeddings", "ocr"] as const;
/** Benches run only when named (not part of the default sequence). */
const NAMED_ONLY = ["jobs"] as const;
type BenchName = (typeof BENCHES)[number] | (typeof NAMED_ONLY)[number];

const [first, ...rest] = process.argv.slice(2);
const picked = [...BENCHES, ...NAMED_ONLY].find((name) => name === first);
if (first !== undefined && !picked && !first.startsWith("--")) {
  process.stderr.write(
    `usage: bun bench/run.ts [${[...BENCHES, ...NAMED_ONLY].join("|")}] [--force] [--jobs N] [--runs N] [--duration SECONDS] [--warmup SECONDS] [--repetitions N] [--grpc-duration SECONDS] [--grpc-warmup SECONDS] [--stream-repetitions N]\n`,
  );
  process.exit(2);
}
const flags = picked ? rest : process.argv.slice(2);
const selected: readonly BenchName[] = picked ? [picked] : BENCHES;
// Parsed before anything runs, so a bad flag fails at once rather than after the earlier benches.
const serveOptions = parseServeOptions(flags);
const coldstartOptions = parseColdstartOptions(flags);
const grpcOptions = parseGrpcOptions(flags);
const priorityOptions = parsePriorityOptions(flags);
const jobCount = parseJobs(flags);
// Once, first: the benches' own children raise the load average.
const gate = checkLoadGate(parseForce(flags));
// The scheduler, cold-start and gRPC benches print their own tables; the mark goes above them.
const mark = quietnessMark(gate);

if (selected.includes("scheduler")) {
  process.stdout.write(mark);
  await runSchedulerBench();
}
if (selected.includes("serve")) await runServeBench(serveOptions, gate);
if (selected.includes("coldstart")) {
  process.stdout.write(mark);
  await runColdstartBench(coldstartOptions);
}
if (selected.includes("grpc")) {
  process.stdout.write(mark);
  await runGrpcBench(grpcOptions);
}
if (selected.includes("priority")) await runPriorityBench(priorityOptions, gate);
// The task benches take the serve bench's --duration, --warmup and --runs.
if (selected.includes("embeddings")) await runEmbeddingsBench(serveOptions, gate);
if (selected.includes("ocr")) await runOcrBench(serveOptions, gate);
if (selected.includes("jobs")) await runJobsBench(jobCount, gate);
