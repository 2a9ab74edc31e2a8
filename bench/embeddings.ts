/**
 * Embeddings bench: ModelMora's `POST /v1/embeddings` (txt2embed: tokenised and batched across
 * requests in the worker) against a naive in-process server that tokenises and runs each request alone
 * (bench/baselines/naive-embed-server.ts), at c=32 with sentences of mixed lengths (3 to 120 words),
 * one text per request, driven by the same closed-loop generator (bench/lib/json-load.ts, its own
 * process, its CPU per request reported). Each run measures naive, then ModelMora; `--runs` runs,
 * reported as median (min–max). Goal (issue 14): ModelMora ≥ 2× the naive server's throughput.
 * The model is an encoder of all-MiniLM-L6-v2's shape generated with random weights
 * (tests/fixtures/text-encoder.ts MINILM_L6: 6 layers, hidden 384, 12 heads, feed-forward 1536,
 * a generated 30,522-token WordPiece vocabulary, 256 positions, 90 MB), so the figures weigh a real
 * small encoder's compute, padding and tokenisation, not only per-request overhead. On a CPU that
 * compute is most of a request, and batching makes it only ≈ 1.1–1.3× cheaper for these lengths
 * (the table in workers/tasks/embed-rows.ts). What ModelMora adds is the second core: onnxruntime-node
 * runs a session synchronously on the JavaScript thread, and its intra-op threads barely speed up
 * one small run, so the naive server keeps about one core busy; ModelMora runs one replica per core
 * with one onnxruntime thread each (what README.md recommends for small encoders on a CPU). The
 * ratio is then about (ModelMora's cores ÷ its CPU per request) ÷ (≈ 1 core ÷ the naive server's):
 * ≈ 1.7× on 2 cores (bench/README.md; bench/embed-cpu.ts and bench/embed-levers.ts measure the parts).
 *
 * Run: `bun bench/run.ts embeddings [--duration 8] [--warmup 2] [--runs 3] [--force]`.
 */
import os from "node:os";
import path from "node:path";
import { MINILM_L6, writeSizedTextEncoder } from "../tests/fixtures/text-encoder.ts";
import { type LoadGate, checkLoadGate, parseForce, quietnessMark } from "./lib/load-gate.ts";
import type { JsonLoadResult } from "./lib/json-load.ts";
import { LOAD_HEADER, driveJsonLoad, loadCells, registerAndLoad } from "./lib/json-bench.ts";
import { withBenchSandbox } from "./lib/processes.ts";
import { describeMachine, gitDescription, machineLine, markdownTable } from "./lib/report.ts";
import { median } from "./lib/spread.ts";
import { type ServeOptions, parseServeOptions } from "./serve.ts";

const CONNECTIONS = 32;
const SENTENCES = 256;
const ANSWER_TOLERANCE = 1e-4;
/** One worker replica per core, each with one onnxruntime thread (README.md, "Embeddings on a CPU"). */
const REPLICAS = Math.min(os.availableParallelism(), 16);

/**
 * Sentences of 3 to 120 words of the encoder's vocabulary, deterministic; one word in eight is
 * lengthened by a syllable, so the tokenizer splits it into "##" pieces (≈ 1.1 tokens a word).
 */
export function mixedSentences(count: number, words: string[]): string[] {
  let state = 12345;
  // The LCG's low bits cycle quickly; its high bits are used.
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) >>> 8;
  const word = () => {
    const whole = words[next() % words.length]!;
    return next() % 8 === 0 ? whole + words[next() % 90]! : whole;
  };
  return Array.from({ length: count }, () => Array.from({ length: 3 + (next() % 118) }, word).join(" "));
}

function firstVector(answer: unknown): number[] {
  return (answer as { data: { embedding: number[] }[] }).data[0]!.embedding;
}

export async function runEmbeddingsBench(options: ServeOptions, gate: LoadGate): Promise<void> {
  await withBenchSandbox("modelmora-bench-embeddings-", async (children, directory) => {
    const machine = describeMachine();
    const encoder = await writeSizedTextEncoder(path.join(directory, "encoder"), MINILM_L6);
    const modelmora = await children.startModelMora(path.join(directory, "data"));
    await registerAndLoad(modelmora, {
      name: "encoder",
      task: "txt2embed",
      source: encoder.model,
      files: { "tokenizer.json": encoder.tokenizer },
      config: { maxBatchSize: CONNECTIONS, maxQueueDelayMicroseconds: 2000, replicas: REPLICAS, intraOpThreads: 1 },
    });
    const naive = await children.startServer("naive embeddings server", [process.execPath, path.join(import.meta.dir, "baselines", "naive-embed-server.ts"), encoder.model, encoder.tokenizer, "--port", "0"]);
    const bodies = mixedSentences(SENTENCES, encoder.words).map((input) => JSON.stringify({ model: "encoder", input }));
    const runs: { naive: JsonLoadResult[]; modelmora: JsonLoadResult[] } = { naive: [], modelmora: [] };
    for (let run = 1; run <= options.runs; run++) {
      for (const [key, server] of [["naive", naive], ["modelmora", modelmora]] as const) {
        process.stderr.write(`embeddings bench: run ${run}/${options.runs}: ${key}, c=${CONNECTIONS} …\n`);
        const spec = { url: `http://127.0.0.1:${server.httpPort}/v1/embeddings`, bodies, connections: CONNECTIONS, warmupSeconds: options.warmupSeconds, durationSeconds: options.durationSeconds };
        runs[key].push(await driveJsonLoad(children, directory, spec));
      }
      const [reference, answer] = [firstVector(runs.naive.at(-1)!.firstAnswer), firstVector(runs.modelmora.at(-1)!.firstAnswer)];
      const worst = Math.max(...reference.map((value, index) => Math.abs(value - answer[index]!)));
      if (!(worst <= ANSWER_TOLERANCE)) throw new Error(`ModelMora and the naive server disagree on the first embedding (max |diff| ${worst})`);
    }
    const ratio = median(runs.modelmora.map((run) => run.requestsPerSecond)) / median(runs.naive.map((run) => run.requestsPerSecond));
    const flags = `--duration ${options.durationSeconds} --warmup ${options.warmupSeconds} --runs ${options.runs}${gate.quiet ? "" : " --force"}`;
    process.stdout.write(
      `${quietnessMark(gate)}## Embeddings: /v1/embeddings, c=${CONNECTIONS}, mixed sentence lengths\n\n` +
        `${machineLine(machine)} · commit ${gitDescription()} · \`bun bench/run.ts embeddings ${flags}\`\n\n` +
        markdownTable(["server", ...LOAD_HEADER], [["naive (tokenise + run per request)", ...loadCells(runs.naive)], ["ModelMora", ...loadCells(runs.modelmora)]]) +
        `\n\nModelMora / naive throughput (medians): ${ratio.toFixed(2)}× (goal ≥ 2×: ${ratio >= 2 ? "met" : "not met"})\n\n`,
    );
  });
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  await runEmbeddingsBench(parseServeOptions(argv), checkLoadGate(parseForce(argv)));
}
