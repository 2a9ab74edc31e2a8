/**
 * `bun bench/run.ts [scheduler|serve|coldstart|grpc] [flags]`: runs the scheduler microbenchmark,
 * the serving bench, the cold-start bench and the gRPC bench in that order (or only the one named).
 * Tables go to stdout, progress to stderr.
 * See bench/README.md for what each one measures.
 */
import { parseColdstartOptions, runColdstartBench } from "./coldstart.ts";
import { parseGrpcOptions, runGrpcBench } from "./grpc.ts";
import { runSchedulerBench } from "./scheduler.ts";
import { parseServeOptions, runServeBench } from "./serve.ts";

const BENCHES = ["scheduler", "serve", "coldstart", "grpc"] as const;
type BenchName = (typeof BENCHES)[number];

const [first, ...rest] = process.argv.slice(2);
const picked = BENCHES.find((name) => name === first);
if (first !== undefined && !picked && !first.startsWith("--")) {
  process.stderr.write(`usage: bun bench/run.ts [${BENCHES.join("|")}] [--duration SECONDS] [--warmup SECONDS] [--repetitions N] [--grpc-duration SECONDS] [--grpc-warmup SECONDS] [--stream-repetitions N]\n`);
  process.exit(2);
}
const flags = picked ? rest : process.argv.slice(2);
const selected: readonly BenchName[] = picked ? [picked] : BENCHES;
// Parsed before anything runs, so a bad flag fails at once rather than after the earlier benches.
const serveOptions = parseServeOptions(flags);
const coldstartOptions = parseColdstartOptions(flags);
const grpcOptions = parseGrpcOptions(flags);

if (selected.includes("scheduler")) await runSchedulerBench();
if (selected.includes("serve")) await runServeBench(serveOptions);
if (selected.includes("coldstart")) await runColdstartBench(coldstartOptions);
if (selected.includes("grpc")) await runGrpcBench(grpcOptions);
