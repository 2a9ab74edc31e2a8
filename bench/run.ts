/**
 * `bun bench/run.ts [scheduler|serve] [serve flags]`: runs the scheduler microbenchmark, then the
 * serving bench (or only the one named). Tables go to stdout, progress to stderr.
 * See bench/README.md for what each one measures.
 */
import { runSchedulerBench } from "./scheduler.ts";
import { parseServeOptions, runServeBench } from "./serve.ts";

const BENCHES = ["scheduler", "serve"] as const;
type BenchName = (typeof BENCHES)[number];

const [first, ...rest] = process.argv.slice(2);
const picked = BENCHES.find((name) => name === first);
if (first !== undefined && !picked && !first.startsWith("--")) {
  process.stderr.write(`usage: bun bench/run.ts [${BENCHES.join("|")}] [--duration SECONDS] [--warmup SECONDS]\n`);
  process.exit(2);
}
const flags = picked ? rest : process.argv.slice(2);
const selected: readonly BenchName[] = picked ? [picked] : BENCHES;

if (selected.includes("scheduler")) await runSchedulerBench();
if (selected.includes("serve")) await runServeBench(parseServeOptions(flags));
