/**
 * Priority bench: does a CRITICAL request overtake a flood of LOW ones? Against one ModelMora server
 * with the PaddleOCR classifier (maxBatchSize 32, maxQueueDelayMicroseconds 2000), the client
 * (bench/lib/priority-flood.ts, its own `bun` process) puts 200 LOW requests in flight at once over
 * REST JSON (`x-priority: low`), then one CRITICAL (`x-priority: critical`) right after the last LOW
 * send. Reported over `--runs` floods (after one untimed warm-up flood): the flood's drain time
 * (first send → last LOW answer), the CRITICAL answer's time from the same origin, and their ratio.
 *
 * Goal: the CRITICAL request completes before a third of the flood has drained (ratio ≤ 0.33).
 *
 * Run: `bun bench/priority.ts [--runs 3] [--force]` (env BENCH_RUNS, BENCH_FORCE=1), or
 * `bun bench/run.ts priority`. Refuses to start on a busy machine unless forced (bench/lib/load-gate.ts).
 */
import path from "node:path";
import { type LoadGate, checkLoadGate, parseForce } from "./lib/load-gate.ts";
import type { PriorityFloodResult, PriorityFloodSpec } from "./lib/priority-flood.ts";
import { type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { meanBatch, queueCounters } from "./lib/queue-counters.ts";
import { describeMachine, gitDescription, machineLine, markdownTable, tableHeading, verdict } from "./lib/report.ts";
import { CLS_MODEL_PATH, CLS_SHAPE } from "./lib/serve-cells.ts";
import { type Spread, formatSpread, parseRuns, spread } from "./lib/spread.ts";

const MODEL_NAME = "bench-priority-cls";
const MODEL_CONFIG = { warmupShapes: { x: CLS_SHAPE }, maxBatchSize: 32, maxQueueDelayMicroseconds: 2000 };
const FLOOD_SIZE = 200;
const GOAL_CRITICAL_FRACTION = 0.33;

export interface PriorityOptions {
  runs: number;
}

export function parsePriorityOptions(argv: readonly string[], environment = process.env): PriorityOptions {
  return { runs: parseRuns(argv, environment) };
}

async function expectOk(response: Response, what: string): Promise<void> {
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${(await response.text()).slice(0, 500)}`);
}

async function register(server: ListeningServer): Promise<void> {
  const base = `http://127.0.0.1:${server.httpPort}/api/v1/models`;
  const body = { name: MODEL_NAME, version: "1", task: "tensor", source: CLS_MODEL_PATH, config: MODEL_CONFIG };
  await expectOk(await fetch(base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }), `registering ${MODEL_NAME}`);
  await expectOk(await fetch(`${base}/${MODEL_NAME}/load`, { method: "POST" }), `loading ${MODEL_NAME}`);
}

function resultsTable(floods: readonly PriorityFloodResult[], batches: Spread | undefined): string {
  const row = (measure: string, values: number[]) => [measure, formatSpread(spread(values))];
  const failed = floods.reduce((sum, flood) => sum + flood.failed, 0);
  return markdownTable(
    ["measure", "median (min–max)"],
    [
      row(`flood drain ms (first send → last of ${FLOOD_SIZE} LOW answers)`, floods.map((f) => f.drainMilliseconds)),
      row("CRITICAL completion ms (same origin)", floods.map((f) => f.criticalMilliseconds)),
      row("CRITICAL / drain", floods.map((f) => f.criticalMilliseconds / f.drainMilliseconds)),
      row("LOW answered before CRITICAL", floods.map((f) => f.lowAnsweredBeforeCritical)),
      ["ModelMora mean batch", batches === undefined ? "n/a" : formatSpread(batches)],
      ["failed requests (all runs)", String(failed)],
    ],
  );
}

function goalTable(floods: readonly PriorityFloodResult[]): string {
  const fraction = spread(floods.map((f) => f.criticalMilliseconds / f.drainMilliseconds)).median;
  return markdownTable(
    ["goal", "target", "measured (median of runs)", "status"],
    [["CRITICAL completes before a third of the LOW flood has drained: CRITICAL ms / drain ms", `≤ ${GOAL_CRITICAL_FRACTION}`, fraction.toFixed(2), verdict(fraction <= GOAL_CRITICAL_FRACTION)]],
  );
}

export async function runPriorityBench(options: PriorityOptions, gate: LoadGate): Promise<void> {
  await withBenchSandbox("modelmora-bench-priority-", async (children, directory) => {
    const machine = describeMachine();
    const startedAt = performance.now();
    process.stderr.write("priority bench: starting ModelMora …\n");
    const modelmora = await children.startModelMora(path.join(directory, "data"));
    await register(modelmora);
    const spec: PriorityFloodSpec = {
      url: `http://127.0.0.1:${modelmora.httpPort}/api/v1/infer/${MODEL_NAME}`,
      inputs: [{ name: "x", shape: CLS_SHAPE, seed: 3 }],
      floodSize: FLOOD_SIZE,
    };
    const flood = async () => {
      const stdout = await children.run([process.execPath, path.join(import.meta.dir, "lib", "priority-flood.ts"), JSON.stringify(spec)]);
      return JSON.parse(stdout.trim().split("\n").at(-1)!) as PriorityFloodResult;
    };
    process.stderr.write("priority bench: warm-up flood (untimed) …\n");
    await flood();
    const floods: PriorityFloodResult[] = [];
    const batches: number[] = [];
    for (let run = 1; run <= options.runs; run++) {
      process.stderr.write(`priority bench: run ${run}/${options.runs} …\n`);
      const before = await queueCounters(modelmora);
      const result = await flood();
      const batch = meanBatch(before, await queueCounters(modelmora));
      if (batch !== undefined) batches.push(batch);
      if (result.firstError !== undefined) process.stderr.write(`priority bench:   ${result.failed} failed; first error: ${result.firstError}\n`);
      floods.push(result);
    }
    const heading = tableHeading(gate);
    const command = `bun bench/run.ts priority --runs ${options.runs}${gate.quiet ? "" : " --force"}`;
    process.stdout.write(`\n## Priority\n\n${machineLine(machine)} · load average ${gate.loadAverageOneMinute.toFixed(2)} at start${gate.quiet ? "" : " · NOT QUIET"}\n`);
    process.stdout.write(`\`${command}\` · ModelMora at ${gitDescription()} · ${((performance.now() - startedAt) / 1000).toFixed(0)} s\n\n`);
    process.stdout.write(`${heading}${resultsTable(floods, batches.length > 0 ? spread(batches) : undefined)}\n\n${heading}${goalTable(floods)}\n\n`);
    process.stdout.write(
      `PaddleOCR ch_ppocr_mobile_v2.0_cls, x FP32 [1,3,48,192], registered with ${JSON.stringify(MODEL_CONFIG)}. ` +
        `Per run, the client (bench/lib/priority-flood.ts, own bun process, body encoded once) opens ${FLOOD_SIZE} connections, each writing one request with x-priority: low as fast as the kernel takes it, then one with x-priority: critical; all POST /api/v1/infer/${MODEL_NAME} (REST JSON). ` +
        `Origin = just before the first LOW send; times to each answer's last byte. ${options.runs} run(s) after one untimed warm-up flood; median (min–max) over runs; the ratio is the median of the per-run ratios. ` +
        `Mean batch = requests per batch ModelMora ran during each flood (GET /api/v1/status).\n`,
    );
  });
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const options = parsePriorityOptions(argv);
  await runPriorityBench(options, checkLoadGate(parseForce(argv)));
}
