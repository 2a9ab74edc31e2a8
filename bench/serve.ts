/**
 * End-to-end serving bench: ModelMora against the naive baseline (bench/baselines/naive-server.ts)
 * on the same model, same machine, same request bytes, all driven by one closed-loop client
 * (bench/lib/transport-load.ts, its own `bun` process, bodies encoded once, its CPU per request
 * reported), plus the raw onnxruntime limit for the real model. Everything is a ratio against
 * something measured in this same run; every cell runs `--runs` times (interleaved: naive, then
 * ModelMora, per run) and is reported as median (min–max). What runs is in bench/lib/serve-cells.ts;
 * the tables and goals in bench/lib/serve-report.ts.
 *
 * Run: `bun bench/serve.ts [--duration 8] [--warmup 2] [--runs 3] [--force]` (env BENCH_DURATION_SECONDS,
 * BENCH_WARMUP_SECONDS, BENCH_RUNS, BENCH_FORCE=1), or `bun bench/run.ts serve`. Refuses to start on a
 * busy machine unless forced (bench/lib/load-gate.ts).
 */
import path from "node:path";
import { writeFixtureModels } from "../tests/fixtures/models.ts";
import { type LoadGate, checkLoadGate, parseForce } from "./lib/load-gate.ts";
import { type Children, type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { meanBatch, queueCounters } from "./lib/queue-counters.ts";
import { describeMachine, gitDescription, machineLine } from "./lib/report.ts";
import { type BenchModel, CLS_MODEL_PATH, CONNECTIONS, type Cell, type RawLimitRun, type Target, benchModels } from "./lib/serve-cells.ts";
import { serveReport } from "./lib/serve-report.ts";
import { parseRuns } from "./lib/spread.ts";
import type { TransportLoadResult, TransportLoadSpec } from "./lib/transport-load.ts";

const BUN = process.execPath;
const RAW_BATCH_SIZES = [1, 4, 8, 16, 32];
/** Seconds per batch size in the raw limit; capped by `--duration`, so a smoke run stays short. */
const RAW_SECONDS_PER_SIZE = 1.5;
const OUTPUT_TOLERANCE = 1e-4;

export interface ServeOptions {
  durationSeconds: number;
  warmupSeconds: number;
  runs: number;
}

export function parseServeOptions(argv: readonly string[], environment = process.env): ServeOptions {
  const flag = (name: string) => {
    const index = argv.indexOf(name);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const seconds = (raw: string | undefined, fallback: number, what: string) => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${what} must be a number of seconds, got "${raw}"`);
    return value;
  };
  return {
    durationSeconds: seconds(flag("--duration") ?? environment.BENCH_DURATION_SECONDS, 8, "--duration"),
    warmupSeconds: seconds(flag("--warmup") ?? environment.BENCH_WARMUP_SECONDS, 2, "--warmup"),
    runs: parseRuns(argv, environment),
  };
}

async function expectOk(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

async function registerWithModelMora(server: ListeningServer, model: BenchModel): Promise<void> {
  const base = `http://127.0.0.1:${server.httpPort}/api/v1/models`;
  const body = { name: model.name, version: "1", task: "tensor", source: model.modelPath, config: model.config };
  await expectOk(
    await fetch(base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    `registering ${model.name} with ModelMora`,
  );
  await expectOk(await fetch(`${base}/${model.name}/load`, { method: "POST" }), `loading ${model.name} on ModelMora`);
}

async function drive(children: Children, spec: TransportLoadSpec): Promise<TransportLoadResult> {
  const stdout = await children.run([BUN, path.join(import.meta.dir, "lib", "transport-load.ts"), JSON.stringify(spec)]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as TransportLoadResult;
}

async function measureRawLimit(children: Children, secondsPerSize: number): Promise<RawLimitRun> {
  const spec = { modelPath: CLS_MODEL_PATH, input: "x", itemShape: [3, 48, 192], batchSizes: RAW_BATCH_SIZES, secondsPerSize };
  const stdout = await children.run([BUN, path.join(import.meta.dir, "lib", "raw-limit.ts"), JSON.stringify(spec)]);
  return (JSON.parse(stdout.trim().split("\n").at(-1)!) as { results: RawLimitRun }).results;
}

/** Every server and transport must give the naive server's answer, or comparing them means nothing. */
function checkSameAnswer(label: string, reference: TransportLoadResult["firstOutput"], answer: TransportLoadResult["firstOutput"]): void {
  if (answer.name !== reference.name || answer.values.length !== reference.values.length) {
    throw new Error(`${label} answered "${answer.name}" with ${answer.values.length} values; the naive server "${reference.name}" with ${reference.values.length}`);
  }
  const worst = reference.values.reduce((max, value, index) => Math.max(max, Math.abs(value - answer.values[index]!)), 0);
  if (!(worst <= OUTPUT_TOLERANCE)) throw new Error(`${label} and the naive server disagree on "${answer.name}" (max |diff| ${worst})`);
}

interface Servers {
  naive: ListeningServer;
  modelmora: ListeningServer;
}

function specFor(model: BenchModel, target: Target, servers: Servers, connections: number, options: ServeOptions): TransportLoadSpec {
  const server = servers[target.server];
  const grpc = target.transport === "grpc" || target.transport === "grpc-h2";
  if (grpc && server.grpcPort === undefined) throw new Error(`${server.name}'s listening line gives no numeric grpc_port:\n${server.output()}`);
  return {
    transport: target.transport,
    target: grpc ? `127.0.0.1:${server.grpcPort}` : `http://127.0.0.1:${server.httpPort}`,
    model: model.name,
    // JSON goes to the route both servers share, so both get the same bytes; binary needs KServe's.
    ...(target.transport === "rest-json" ? { restPath: `/api/v1/infer/${model.name}` } : {}),
    inputs: model.inputs,
    connections,
    warmupSeconds: options.warmupSeconds,
    durationSeconds: options.durationSeconds,
  };
}

/** One run of every cell of one model: for each concurrency, naive first, then ModelMora's transports. */
async function runModelOnce(children: Children, model: BenchModel, servers: Servers, cells: Cell[], run: number, options: ServeOptions): Promise<void> {
  for (const connections of CONNECTIONS) {
    let reference: TransportLoadResult["firstOutput"] | undefined;
    for (const target of model.targets) {
      process.stderr.write(`serve bench: run ${run}/${options.runs}: ${model.key}, c=${connections}: ${target.label} …\n`);
      const before = target.server === "modelmora" ? await queueCounters(servers.modelmora) : undefined;
      const result = await drive(children, specFor(model, target, servers, connections, options));
      const batch = target.server === "modelmora" ? meanBatch(before, await queueCounters(servers.modelmora)) : undefined;
      if (result.firstError !== undefined) process.stderr.write(`serve bench:   ${result.failed} failed; first error: ${result.firstError}\n`);
      reference ??= result.firstOutput;
      checkSameAnswer(target.label, reference, result.firstOutput);
      const cell = cells.find((c) => c.model === model.key && c.connections === connections && c.target.key === target.key);
      if (cell) cell.runs.push({ result, meanBatch: batch });
      else cells.push({ model: model.key, connections, target, runs: [{ result, meanBatch: batch }] });
    }
  }
}

export async function runServeBench(options: ServeOptions, gate: LoadGate): Promise<void> {
  await withBenchSandbox("modelmora-bench-", async (children, directory) => {
    const machine = describeMachine();
    const startedAt = performance.now();
    const fixtures = await writeFixtureModels(path.join(directory, "models"));
    const modelmora = await children.startModelMora(path.join(directory, "data"));
    const cells: Cell[] = [];
    const raw: RawLimitRun[] = [];
    for (const model of benchModels(fixtures.add)) {
      await registerWithModelMora(modelmora, model);
      const naiveCommand = [BUN, path.join(import.meta.dir, "baselines", "naive-server.ts"), model.modelPath, "--port", "0", "--name", model.name];
      const naive = await children.startServer("naive server", naiveCommand);
      for (let run = 1; run <= options.runs; run++) {
        if (model.key === "cls") {
          process.stderr.write(`serve bench: run ${run}/${options.runs}: raw onnxruntime limit …\n`);
          raw.push(await measureRawLimit(children, Math.min(RAW_SECONDS_PER_SIZE, Math.max(options.durationSeconds, 0.1))));
        }
        await runModelOnce(children, model, { naive, modelmora }, cells, run, options);
      }
      await children.stop(naive.process);
      await fetch(`http://127.0.0.1:${modelmora.httpPort}/api/v1/models/${model.name}/unload`, { method: "POST" });
    }
    const flags = `--duration ${options.durationSeconds} --warmup ${options.warmupSeconds} --runs ${options.runs}${gate.quiet ? "" : " --force"}`;
    process.stdout.write(
      serveReport({
        gate,
        machineLine: machineLine(machine),
        command: `bun bench/run.ts serve ${flags}`,
        commit: gitDescription(),
        elapsedSeconds: (performance.now() - startedAt) / 1000,
        runs: options.runs,
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        cells,
        raw,
      }),
    );
  });
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const options = parseServeOptions(argv);
  await runServeBench(options, checkLoadGate(parseForce(argv)));
}
