/**
 * The embeddings bench's levers, measured in one process on its encoder (MINILM_L6, random weights)
 * and its 256 sentences (bench/embeddings.ts): CPU milliseconds per text of onnxruntime by strategy
 * (texts per run, length-sorted runs, threads, session options), the tokenizer's cost, and the
 * machine's GEMM roof through onnxruntime ([M, 384] × [384, 1536] chains, one thread). CPU time, not
 * wall time, so a shared machine skews it less; strategies are interleaved, `--reps` rounds,
 * reported as median (min). Not part of `npm run bench`.
 *
 * onnxruntime-node runs `session.run` synchronously on the JavaScript thread (its backend defers the
 * call with setImmediate), so runs in one process never overlap: two cores need two processes.
 *
 * Run: `bun bench/embed-levers.ts [--reps 5]`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-node";
import { type Initializer, type NodeDeclaration, encodeModel, tensor } from "../tests/fixtures/onnx-builder.ts";
import { MINILM_L6, writeSizedTextEncoder } from "../tests/fixtures/text-encoder.ts";
import { RUN_TOKEN_BUDGET, lengthRuns } from "../workers/tasks/embed-rows.ts";
import { mixedSentences } from "./embeddings.ts";

const argv = process.argv.slice(2);
const reps = argv.includes("--reps") ? Number(argv[argv.indexOf("--reps") + 1]) : 5;
const { hidden, intermediate, layers } = MINILM_L6;

/** Floating-point operations of the encoder on one text of `tokens` tokens (dense layers and attention). */
const encoderFlops = (tokens: number) => layers * (2 * tokens * (4 * hidden * hidden + 2 * hidden * intermediate) + 4 * tokens * tokens * hidden);

function cpuMilliseconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

function summary(values: number[]): string {
  const sorted = [...values].sort((left, right) => left - right);
  return `${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} (${sorted[0]!.toFixed(2)})`;
}

function feeds(rows: number[][]): Record<string, ort.Tensor> {
  const length = Math.max(...rows.map((row) => row.length));
  const ids = new BigInt64Array(rows.length * length);
  const mask = new BigInt64Array(rows.length * length);
  rows.forEach((row, index) => row.forEach((id, position) => {
    ids[index * length + position] = BigInt(id);
    mask[index * length + position] = 1n;
  }));
  const shape = [rows.length, length];
  return { input_ids: new ort.Tensor("int64", ids, shape), attention_mask: new ort.Tensor("int64", mask, shape), token_type_ids: new ort.Tensor("int64", new BigInt64Array(ids.length), shape) };
}

/** Runs of the texts as a batch former sends them: batches of `batchSize` in arrival order, each length-sorted and cut by `budget`. */
function arrivalRuns(lengths: number[], batchSize: number, budget: number): number[][] {
  const runs: number[][] = [];
  for (let start = 0; start < lengths.length; start += batchSize) {
    runs.push(...lengthRuns(lengths.slice(start, start + batchSize), budget).map((run) => run.map((index) => start + index)));
  }
  return runs;
}

async function encoderStrategies(directory: string): Promise<void> {
  const encoder = await writeSizedTextEncoder(directory, MINILM_L6);
  const tokenizer = new Tokenizer(JSON.parse(await Bun.file(encoder.tokenizer).text()), {});
  const sentences = mixedSentences(256, encoder.words);
  const encode = () => sentences.map((text) => tokenizer.encode(text, { return_token_type_ids: true }).ids);
  for (let warm = 0; warm < 3; warm++) encode();
  const tokenizing: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const started = process.cpuUsage();
    encode();
    tokenizing.push((cpuMilliseconds(started) * 1000) / sentences.length);
  }
  const encoded = encode();
  const lengths = encoded.map((ids) => ids.length);
  const usefulFlops = lengths.reduce((sum, tokens) => sum + encoderFlops(tokens), 0);
  console.log(`${sentences.length} sentences, ${(lengths.reduce((a, b) => a + b, 0) / lengths.length).toFixed(1)} tokens on average (${Math.min(...lengths)}–${Math.max(...lengths)}), ${(usefulFlops / lengths.length / 1e9).toFixed(2)} GFLOP a text`);
  console.log(`tokenizer.encode: ${summary(tokenizing)} µs CPU a text\n`);

  const open = (options: ort.InferenceSession.SessionOptions) => ort.InferenceSession.create(encoder.model, options);
  const onePerRun = lengths.map((_, index) => [index]);
  const strategies: { name: string; options: ort.InferenceSession.SessionOptions; runs: number[][] }[] = [
    { name: "1 per run, default threads (naive)", options: {}, runs: onePerRun },
    { name: "1 per run, 1 thread", options: { intraOpNumThreads: 1 }, runs: onePerRun },
    { name: `batches of 16, budget ${RUN_TOKEN_BUDGET}, 1 thread`, options: { intraOpNumThreads: 1 }, runs: arrivalRuns(lengths, 16, RUN_TOKEN_BUDGET) },
    { name: `batches of 32, budget ${RUN_TOKEN_BUDGET}, 1 thread`, options: { intraOpNumThreads: 1 }, runs: arrivalRuns(lengths, 32, RUN_TOKEN_BUDGET) },
    { name: "batches of 16, budget 640, 1 thread", options: { intraOpNumThreads: 1 }, runs: arrivalRuns(lengths, 16, 640) },
    { name: "batches of 16 padded to longest, 1 thread", options: { intraOpNumThreads: 1 }, runs: arrivalRuns(lengths, 16, Number.POSITIVE_INFINITY) },
    { name: `batches of 16, budget ${RUN_TOKEN_BUDGET}, default threads`, options: {}, runs: arrivalRuns(lengths, 16, RUN_TOKEN_BUDGET) },
    { name: "… 1 thread, optimisation basic", options: { intraOpNumThreads: 1, graphOptimizationLevel: "basic" }, runs: arrivalRuns(lengths, 16, RUN_TOKEN_BUDGET) },
    { name: "… 1 thread, optimisation disabled", options: { intraOpNumThreads: 1, graphOptimizationLevel: "disabled" }, runs: arrivalRuns(lengths, 16, RUN_TOKEN_BUDGET) },
    { name: "… 1 thread, memory arena off", options: { intraOpNumThreads: 1, enableCpuMemArena: false }, runs: arrivalRuns(lengths, 16, RUN_TOKEN_BUDGET) },
  ];
  const sessions = await Promise.all(strategies.map((strategy) => open(strategy.options)));
  const cpu = strategies.map((): number[] => []);
  const wall = strategies.map((): number[] => []);
  for (let rep = 0; rep < reps; rep++) {
    for (const [index, strategy] of strategies.entries()) {
      const [started, startedAt] = [process.cpuUsage(), performance.now()];
      for (const run of strategy.runs) await sessions[index]!.run(feeds(run.map((row) => encoded[row]!)));
      cpu[index]!.push(cpuMilliseconds(started) / lengths.length);
      wall[index]!.push((performance.now() - startedAt) / lengths.length);
    }
  }
  console.log("strategy | CPU ms a text | wall ms a text | useful GFLOP per CPU-second");
  for (const [index, strategy] of strategies.entries()) {
    const best = Math.min(...cpu[index]!);
    console.log(`${strategy.name} | ${summary(cpu[index]!)} | ${summary(wall[index]!)} | ${(usefulFlops / lengths.length / best / 1e6).toFixed(0)}`);
  }
  await Promise.all(sessions.map((session) => session.release()));
}

/** One thread's GEMM throughput through onnxruntime: 8 × ([M, 384] × [384, 1536] × [1536, 384]), a small output. */
async function gemmRoof(directory: string): Promise<void> {
  const depth = 8;
  const nodes: NodeDeclaration[] = [];
  const initializers: Initializer[] = [];
  let current = "x";
  for (let layer = 0; layer < depth; layer++) {
    const values = (count: number) => new Float32Array(count).map((_, index) => (((index * 7919 + layer) % 1000) / 1000 - 0.5) * 0.05);
    initializers.push({ name: `up${layer}`, elementType: "float32", dims: [hidden, intermediate], values: values(hidden * intermediate) });
    initializers.push({ name: `down${layer}`, elementType: "float32", dims: [intermediate, hidden], values: values(hidden * intermediate) });
    nodes.push({ opType: "MatMul", inputs: [current, `up${layer}`], outputs: [`u${layer}`] }, { opType: "MatMul", inputs: [`u${layer}`, `down${layer}`], outputs: [`d${layer}`] });
    current = `d${layer}`;
  }
  nodes.push({ opType: "ReduceMean", inputs: [current], outputs: ["y"], attributes: { axes: [0], keepdims: 0 } });
  const modelPath = path.join(directory, "gemm-roof.onnx");
  await Bun.write(modelPath, encodeModel({ name: "gemm_roof", inputs: [tensor("x", "float32", ["m", hidden])], outputs: [tensor("y", "float32", [hidden])], nodes, initializers }));
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  const line: string[] = [];
  for (const rows of [24, 72, 140, 320]) {
    const x = new ort.Tensor("float32", new Float32Array(rows * hidden).fill(0.5), [rows, hidden]);
    await session.run({ x });
    const rates: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const count = Math.ceil(2000 / rows);
      const started = process.cpuUsage();
      for (let index = 0; index < count; index++) await session.run({ x });
      rates.push((2 * rows * hidden * intermediate * 2 * depth * count) / cpuMilliseconds(started) / 1e6);
    }
    line.push(`M=${rows}: ${Math.max(...rates).toFixed(0)}`);
  }
  console.log(`\nGEMM roof, 1 thread, GFLOP per CPU-second (best): ${line.join(", ")}`);
  await session.release();
}

const directory = await mkdtemp(path.join(tmpdir(), "embed-levers-"));
try {
  await encoderStrategies(directory);
  await gemmRoof(directory);
} finally {
  await rm(directory, { recursive: true, force: true });
}
