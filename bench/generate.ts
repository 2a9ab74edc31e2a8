/**
 * Generation bench (txt2txt): tokens/s at 1 and 8 concurrent streams and time to first token
 * (TTFT) through a ModelMora server (`POST /api/v1/generate/{name}` with `"stream": true`, SSE),
 * against @huggingface/transformers' text-generation pipeline run in this process, one request at
 * a time (what a script that loads transformers.js itself gets). Both run the same generated
 * decoders (tests/fixtures/text-decoder.ts) from the same local directories, greedy,
 * `--new-tokens` tokens per request; transformers.js loads them offline (`env.allowRemoteModels = false`).
 *
 * Two decoders: a GPT-2-small-like shape scaled to 2 cores (hidden 512, 8 heads × 64, 6 layers, an
 * 8k BPE vocabulary built here; random weights), where a step costs what a small real model's does
 * — the goal is measured on it; and the tests' tiny decoder (hidden 16), where a step costs next to
 * nothing, so its row shows ModelMora's per-step overhead (IPC, SSE) on its own.
 *
 * Reported over `--runs` rounds (after one untimed warm-up round each): tokens/s (all tokens of a
 * round / its wall time) and TTFT (request sent → first token event) as median (min–max).
 *
 * Goal (issue 15): at 8 streams ModelMora gives ≥ 3× the tokens/s of transformers.js one at a time.
 *
 * Allocator: ModelMora's workers start with MIMALLOC_PURGE_DELAY=-1 (src/lifecycle/worker-environment.ts:
 * freed memory reused, so onnxruntime's KV-cache outputs do not fault fresh pages in at every step);
 * transformers.js runs in this process with Bun's default, as a script that loads it gets. Its
 * batch-1 steps move a smaller cache, so the setting matters less to it (a batch-1 step of the
 * bench decoder: about 5.2 ms and ~100 page faults by default, 3.6 ms and ~1 with the setting, one
 * noisy measurement); run this bench with MIMALLOC_PURGE_DELAY=-1 set to give the baseline it too.
 *
 * Run: `bun bench/generate.ts [--runs 3] [--new-tokens 64] [--force]`; smoke check:
 * `bun bench/generate.ts --runs 1 --new-tokens 8 --force`. Refuses to start on a busy machine
 * unless forced (bench/lib/load-gate.ts).
 */
import path from "node:path";
import { env, pipeline } from "@huggingface/transformers";
import { DEFAULT_DECODER_SHAPE, type DecoderShape, writeTextDecoder } from "../tests/fixtures/text-decoder.ts";
import { type LoadGate, checkLoadGate, parseForce } from "./lib/load-gate.ts";
import { type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { describeMachine, machineLine, markdownTable, ratio, significant, tableHeading, verdict } from "./lib/report.ts";
import { formatSpread, parseRuns, spread } from "./lib/spread.ts";

interface BenchModel {
  name: string;
  label: string;
  shape: Partial<DecoderShape>;
  /** The goal is judged on this model. */
  judged: boolean;
}

const BENCH_MODELS: BenchModel[] = [
  { name: "bench-lm", label: "GPT-2-like decoder (hidden 512, 8 heads, 6 layers, 8192-token BPE vocabulary)", shape: { layers: 6, heads: 8, headDimension: 64, maxPositions: 1024, vocabularySize: 8192 }, judged: true },
  { name: "bench-tiny-lm", label: "tiny decoder (the tests': hidden 16, 2 layers, 99 tokens) — ModelMora's per-step overhead", shape: DEFAULT_DECODER_SHAPE, judged: false },
];
const STREAM_COUNTS = [1, 8];
const GOAL_RATIO_AT_8 = 3;
const PROMPTS = [
  "Hello world",
  "The quick brown fox jumps over the lazy dog.",
  "Once upon a time",
  "ModelMora serves ONNX models",
  "1 + 1 =",
  "In the beginning",
  "A list of things:",
  "Dear reader,",
];

interface Round {
  tokens: number;
  wallMilliseconds: number;
  firstTokenMilliseconds: number[];
}

function flagValue(argv: readonly string[], name: string, fallback: number): number {
  const index = argv.indexOf(name);
  const value = index >= 0 ? Number(argv[index + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: a positive integer`);
  return value;
}

async function expectOk(response: Response, what: string): Promise<void> {
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${(await response.text()).slice(0, 500)}`);
}

/** One SSE stream: resolves with its token count and when its first token came (ms after `origin`). */
async function streamOnce(url: string, prompt: string, newTokens: number, origin: number): Promise<{ tokens: number; firstTokenMilliseconds: number }> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt, max_new_tokens: newTokens, stream: true }) });
  await expectOk(response, "generate");
  let firstTokenMilliseconds = Number.NaN;
  let tokens = 0;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of response.body!) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!frame.startsWith("event: token")) continue;
      if (tokens === 0) firstTokenMilliseconds = performance.now() - origin;
      tokens += (JSON.parse(frame.slice(frame.indexOf("data: ") + 6)) as { token_ids: number[] }).token_ids.length;
    }
  }
  return { tokens, firstTokenMilliseconds };
}

async function modelMoraRound(server: ListeningServer, model: string, streams: number, newTokens: number): Promise<Round> {
  const url = `http://127.0.0.1:${server.httpPort}/api/v1/generate/${model}`;
  const origin = performance.now();
  const results = await Promise.all(Array.from({ length: streams }, (_, index) => streamOnce(url, PROMPTS[index % PROMPTS.length]!, newTokens, origin)));
  return { tokens: results.reduce((sum, result) => sum + result.tokens, 0), wallMilliseconds: performance.now() - origin, firstTokenMilliseconds: results.map((result) => result.firstTokenMilliseconds) };
}

type Generator = (prompt: string, options: Record<string, unknown>) => Promise<unknown>;

/** transformers.js, one request after another: the same prompts, greedy, the same token budget. */
async function transformersRound(generator: Generator, tokenizer: { encode(text: string): number[] }, TextStreamer: new (...args: any[]) => unknown, requests: number, newTokens: number): Promise<Round> {
  const origin = performance.now();
  const firstTokenMilliseconds: number[] = [];
  let tokens = 0;
  for (let index = 0; index < requests; index++) {
    const sentAt = performance.now();
    let first = Number.NaN;
    let count = 0;
    const streamer = new TextStreamer(tokenizer, { skip_prompt: true, callback_function: () => undefined, token_callback_function: () => (count++ === 0 ? (first = performance.now() - sentAt) : undefined) });
    await generator(PROMPTS[index % PROMPTS.length]!, { max_new_tokens: newTokens, do_sample: false, streamer });
    firstTokenMilliseconds.push(first);
    tokens += count;
  }
  return { tokens, wallMilliseconds: performance.now() - origin, firstTokenMilliseconds };
}

interface ModelFigures {
  model: BenchModel;
  baseline: Round[];
  measured: Map<number, Round[]>;
}

/** transformers.js on `directory` (offline), one request at a time: a warm-up round, then `runs` rounds. */
async function transformersRounds(modelsDirectory: string, model: BenchModel, runs: number, newTokens: number): Promise<Round[]> {
  process.stderr.write(`generate bench: transformers.js, ${model.name} …\n`);
  env.allowRemoteModels = false;
  env.localModelPath = modelsDirectory + path.sep;
  const { TextStreamer } = await import("@huggingface/transformers");
  const generator = (await pipeline("text-generation", model.name, { dtype: "fp32", device: "cpu" })) as unknown as Generator & { tokenizer: { encode(text: string): number[] }; dispose(): Promise<void> };
  const requests = Math.max(...STREAM_COUNTS);
  try {
    await transformersRound(generator, generator.tokenizer, TextStreamer, 1, newTokens);
    const rounds: Round[] = [];
    for (let run = 0; run < runs; run++) rounds.push(await transformersRound(generator, generator.tokenizer, TextStreamer, requests, newTokens));
    return rounds;
  } finally {
    await generator.dispose();
  }
}

export async function runGenerateBench(options: { runs: number; newTokens: number }, gate: LoadGate): Promise<void> {
  await withBenchSandbox("modelmora-bench-generate-", async (children, directory) => {
    const machine = describeMachine();
    const modelsDirectory = path.join(directory, "models");
    const figures: ModelFigures[] = [];
    const files = new Map<string, Awaited<ReturnType<typeof writeTextDecoder>>>();
    for (const model of BENCH_MODELS) {
      process.stderr.write(`generate bench: writing ${model.name} …\n`);
      files.set(model.name, await writeTextDecoder(path.join(modelsDirectory, model.name), { shape: model.shape }));
      figures.push({ model, baseline: await transformersRounds(modelsDirectory, model, options.runs, options.newTokens), measured: new Map() });
    }

    const server = await children.startModelMora(path.join(directory, "data"));
    const base = `http://127.0.0.1:${server.httpPort}/api/v1/models`;
    for (const figure of figures) {
      const { name } = figure.model;
      process.stderr.write(`generate bench: ModelMora, ${name} …\n`);
      const body = { name, version: "1", task: "txt2txt", source: files.get(name)!.model, files: files.get(name)!.companionFiles, config: { maxConcurrentSequences: Math.max(...STREAM_COUNTS) } };
      await expectOk(await fetch(base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }), "registering");
      await expectOk(await fetch(`${base}/${name}/load`, { method: "POST" }), "loading");
      for (const streams of STREAM_COUNTS) {
        await modelMoraRound(server, name, streams, options.newTokens);
        const rounds: Round[] = [];
        for (let run = 0; run < options.runs; run++) rounds.push(await modelMoraRound(server, name, streams, options.newTokens));
        figure.measured.set(streams, rounds);
      }
      await expectOk(await fetch(`${base}/${name}/unload`, { method: "POST" }), "unloading");
    }

    const tokensPerSecond = (rounds: Round[]) => rounds.map((round) => (round.tokens / round.wallMilliseconds) * 1000);
    const firstTokens = (rounds: Round[]) => rounds.flatMap((round) => round.firstTokenMilliseconds);
    const rows = figures.flatMap(({ model, baseline, measured }) => [
      [model.name, "transformers.js pipeline, in process, one at a time", formatSpread(spread(tokensPerSecond(baseline))), formatSpread(spread(firstTokens(baseline))), significant(baseline[0]!.tokens)],
      ...STREAM_COUNTS.map((streams) => {
        const rounds = measured.get(streams)!;
        return [model.name, `ModelMora, ${streams} concurrent stream${streams > 1 ? "s" : ""} (SSE)`, formatSpread(spread(tokensPerSecond(rounds))), formatSpread(spread(firstTokens(rounds))), significant(rounds[0]!.tokens)];
      }),
    ]);
    const goals = figures.map(({ model, baseline, measured }) => {
      const atEight = spread(tokensPerSecond(measured.get(8)!)).median / spread(tokensPerSecond(baseline)).median;
      return [`${model.name}: tokens/s at 8 streams ÷ transformers.js one at a time`, model.judged ? `≥ ${GOAL_RATIO_AT_8}×` : "(overhead row, not judged)", ratio(atEight), model.judged ? verdict(atEight >= GOAL_RATIO_AT_8) : "—"];
    });
    process.stdout.write(
      `## Generation (txt2txt), ${options.newTokens} new tokens per request, ${options.runs} runs\n\n${tableHeading(gate)}${machineLine(machine)}\n\n` +
        `${figures.map(({ model }) => `- ${model.name}: ${model.label}`).join("\n")}\n\n` +
        `${markdownTable(["model", "server", "tokens/s median (min–max)", "TTFT ms median (min–max)", "tokens per round"], rows)}\n\n` +
        `${markdownTable(["goal", "target", "measured", "status"], goals)}\n\n` +
        `transformers.js ran with MIMALLOC_PURGE_DELAY=${process.env.MIMALLOC_PURGE_DELAY ?? "unset (Bun's default)"}; ModelMora's workers with ${process.env.MIMALLOC_PURGE_DELAY ?? "-1 (their default)"}\n`,
    );
  });
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const gate = checkLoadGate(parseForce(argv));
  await runGenerateBench({ runs: parseRuns(argv), newTokens: flagValue(argv, "--new-tokens", 64) }, gate);
}
