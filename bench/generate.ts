/**
 * Generation bench (txt2txt): tokens/s at 1 and 8 concurrent streams and time to first token
 * (TTFT) through a ModelMora server (`POST /api/v1/generate/{name}` with `"stream": true`, SSE),
 * against @huggingface/transformers' text-generation pipeline run in this process, one request at
 * a time (what a script that loads transformers.js itself gets). Both run the same generated
 * decoder (tests/fixtures/text-decoder.ts, larger than the test's: 4 layers, 8 heads × 32) from
 * the same local directory, greedy, `--new-tokens` tokens per request; transformers.js loads it
 * offline (`env.allowRemoteModels = false`).
 *
 * Reported over `--runs` rounds (after one untimed warm-up round each): tokens/s (all tokens of a
 * round / its wall time) and TTFT (request sent → first token event) as median (min–max).
 *
 * Goal (issue 15): at 8 streams ModelMora gives ≥ 3× the tokens/s of transformers.js one at a time.
 *
 * Run: `bun bench/generate.ts [--runs 3] [--new-tokens 64] [--force]`; smoke check:
 * `bun bench/generate.ts --runs 1 --new-tokens 8 --force`. Refuses to start on a busy machine
 * unless forced (bench/lib/load-gate.ts).
 */
import path from "node:path";
import { env, pipeline } from "@huggingface/transformers";
import { writeTextDecoder } from "../tests/fixtures/text-decoder.ts";
import { type LoadGate, checkLoadGate, parseForce } from "./lib/load-gate.ts";
import { type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { describeMachine, machineLine, markdownTable, ratio, significant, tableHeading, verdict } from "./lib/report.ts";
import { formatSpread, parseRuns, spread } from "./lib/spread.ts";

const MODEL_NAME = "bench-tiny-lm";
const BENCH_SHAPE = { layers: 4, heads: 8, headDimension: 32, maxPositions: 1024 };
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

async function modelMoraRound(server: ListeningServer, streams: number, newTokens: number): Promise<Round> {
  const url = `http://127.0.0.1:${server.httpPort}/api/v1/generate/${MODEL_NAME}`;
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

export async function runGenerateBench(options: { runs: number; newTokens: number }, gate: LoadGate): Promise<void> {
  await withBenchSandbox("modelmora-bench-generate-", async (children, directory) => {
    const machine = describeMachine();
    const modelDirectory = path.join(directory, "models", "tiny-lm");
    const files = await writeTextDecoder(modelDirectory, { shape: BENCH_SHAPE });

    process.stderr.write("generate bench: transformers.js …\n");
    env.allowRemoteModels = false;
    env.localModelPath = path.join(directory, "models") + path.sep;
    const { TextStreamer } = await import("@huggingface/transformers");
    const generator = (await pipeline("text-generation", "tiny-lm", { dtype: "fp32", device: "cpu" })) as unknown as Generator & { tokenizer: { encode(text: string): number[] } };
    const requests = Math.max(...STREAM_COUNTS);
    await transformersRound(generator, generator.tokenizer, TextStreamer, 1, options.newTokens);
    const baseline: Round[] = [];
    for (let run = 0; run < options.runs; run++) baseline.push(await transformersRound(generator, generator.tokenizer, TextStreamer, requests, options.newTokens));

    process.stderr.write("generate bench: ModelMora …\n");
    const server = await children.startModelMora(path.join(directory, "data"));
    const base = `http://127.0.0.1:${server.httpPort}/api/v1/models`;
    const body = { name: MODEL_NAME, version: "1", task: "txt2txt", source: files.model, files: files.companionFiles, config: { maxConcurrentSequences: Math.max(...STREAM_COUNTS) } };
    await expectOk(await fetch(base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }), "registering");
    await expectOk(await fetch(`${base}/${MODEL_NAME}/load`, { method: "POST" }), "loading");
    const measured = new Map<number, Round[]>();
    for (const streams of STREAM_COUNTS) {
      await modelMoraRound(server, streams, options.newTokens);
      const rounds: Round[] = [];
      for (let run = 0; run < options.runs; run++) rounds.push(await modelMoraRound(server, streams, options.newTokens));
      measured.set(streams, rounds);
    }

    const tokensPerSecond = (rounds: Round[]) => rounds.map((round) => (round.tokens / round.wallMilliseconds) * 1000);
    const firstTokens = (rounds: Round[]) => rounds.flatMap((round) => round.firstTokenMilliseconds);
    const rows = [
      ["transformers.js pipeline, in process, one at a time", formatSpread(spread(tokensPerSecond(baseline))), formatSpread(spread(firstTokens(baseline)))],
      ...STREAM_COUNTS.map((streams) => [`ModelMora, ${streams} concurrent stream${streams > 1 ? "s" : ""} (SSE)`, formatSpread(spread(tokensPerSecond(measured.get(streams)!))), formatSpread(spread(firstTokens(measured.get(streams)!)))]),
    ];
    const atEight = spread(tokensPerSecond(measured.get(8)!)).median / spread(tokensPerSecond(baseline)).median;
    process.stdout.write(
      `## Generation (txt2txt), ${options.newTokens} new tokens per request, ${options.runs} runs\n\n${tableHeading(gate)}${machineLine(machine)}\n\n` +
        `${markdownTable(["server", "tokens/s median (min–max)", "TTFT ms median (min–max)"], rows)}\n\n` +
        `${markdownTable(["goal", "target", "measured", "status"], [["tokens/s at 8 streams ÷ transformers.js one at a time", `≥ ${GOAL_RATIO_AT_8}×`, ratio(atEight), verdict(atEight >= GOAL_RATIO_AT_8)]])}\n\n` +
        `tokens counted: ${significant(baseline[0]!.tokens)} per transformers.js round\n`,
    );
  });
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const gate = checkLoadGate(parseForce(argv));
  await runGenerateBench({ runs: parseRuns(argv), newTokens: flagValue(argv, "--new-tokens", 64) }, gate);
}
