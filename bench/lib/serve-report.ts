/**
 * The serving bench's tables: every cell as median (min–max) over its runs, ratios to the naive
 * server from the medians, and the goals, each met or missed.
 */
import type { LoadGate } from "./load-gate.ts";
import { markdownTable, ratio, significant, tableHeading, verdict } from "./report.ts";
import { CLS_CONFIG, type Cell, type ModelKey, type RawLimitRun, type Target } from "./serve-cells.ts";
import { type Spread, formatSpread, median, spread } from "./spread.ts";

const GOAL_TINY_C32_VS_NAIVE = 0.8;
const GOAL_TINY_C1_P50_VS_NAIVE = 1.5;
const GOAL_CLS_C32_JSON_VS_NAIVE = 1.3;
const GOAL_CLS_C32_VS_RAW = 0.75;

type Figure = "requestsPerSecond" | "p50Milliseconds" | "p99Milliseconds" | "clientCpuMicrosecondsPerRequest";

function figure(cell: Cell, name: Figure): Spread {
  return spread(cell.runs.map((run) => run.result[name]));
}

function failures(cell: Cell): string {
  const failed = cell.runs.reduce((sum, run) => sum + run.result.failed, 0);
  return failed > 0 ? ` (${failed} failed)` : "";
}

function find(cells: readonly Cell[], model: ModelKey, connections: number, key: Target["key"]): Cell {
  const found = cells.find((cell) => cell.model === model && cell.connections === connections && cell.target.key === key);
  if (!found) throw new Error(`no ${model} c=${connections} ${key} cell: this is a bug in the serving bench`);
  return found;
}

/** The raw limit of one run is its best batch size; the limit is the median of those. */
export function rawLimit(raw: readonly RawLimitRun[]): { itemsPerSecond: Spread; perBatchSize: { batchSize: number; itemsPerSecond: Spread }[] } {
  const best = raw.map((run) => Math.max(...run.map((entry) => entry.itemsPerSecond)));
  const sizes = raw[0]?.map((entry) => entry.batchSize) ?? [];
  const perBatchSize = sizes.map((batchSize) => ({
    batchSize,
    itemsPerSecond: spread(raw.map((run) => run.find((entry) => entry.batchSize === batchSize)!.itemsPerSecond)),
  }));
  return { itemsPerSecond: spread(best), perBatchSize };
}

export function resultsTable(cells: readonly Cell[]): string {
  const rows = cells.map((cell) => {
    const naive = find(cells, cell.model, cell.connections, "naive");
    const vsNaive = (name: Figure) => (cell === naive ? "—" : ratio(figure(cell, name).median / figure(naive, name).median));
    const batches = cell.runs.map((run) => run.meanBatch).filter((value): value is number => value !== undefined);
    return [
      cell.model,
      String(cell.connections),
      cell.target.label,
      formatSpread(figure(cell, "requestsPerSecond")) + failures(cell),
      vsNaive("requestsPerSecond"),
      formatSpread(figure(cell, "p50Milliseconds")),
      vsNaive("p50Milliseconds"),
      formatSpread(figure(cell, "p99Milliseconds")),
      vsNaive("p99Milliseconds"),
      formatSpread(figure(cell, "clientCpuMicrosecondsPerRequest")),
      cell.target.server === "naive" ? "—" : batches.length > 0 ? significant(median(batches)) : "n/a",
    ];
  });
  return markdownTable(
    ["model", "c", "server · transport", "req/s", "vs naive", "p50 ms", "vs naive", "p99 ms", "vs naive", "client CPU µs/req", "MM mean batch"],
    rows,
  );
}

export function goalsTable(cells: readonly Cell[], raw: readonly RawLimitRun[]): string {
  const throughput = (cell: Cell) => figure(cell, "requestsPerSecond").median;
  const limit = rawLimit(raw).itemsPerSecond.median;
  const tinyC32 = throughput(find(cells, "tiny", 32, "mm-json")) / throughput(find(cells, "tiny", 32, "naive"));
  const tinyP50 = figure(find(cells, "tiny", 1, "mm-json"), "p50Milliseconds").median / figure(find(cells, "tiny", 1, "naive"), "p50Milliseconds").median;
  const clsJson = throughput(find(cells, "cls", 32, "mm-json")) / throughput(find(cells, "cls", 32, "naive"));
  const clsBinary = throughput(find(cells, "cls", 32, "mm-binary")) / limit;
  const clsGrpc = throughput(find(cells, "cls", 32, "mm-grpc")) / limit;
  const percent = (value: number) => `${(value * 100).toFixed(0)}%`;
  const rawLabel = `raw onnxruntime limit (${significant(limit)} items/s)`;
  return markdownTable(
    ["goal", "target", "measured (from medians)", "status"],
    [
      ["tiny, c=32: ModelMora JSON throughput / naive", `≥ ${ratio(GOAL_TINY_C32_VS_NAIVE)}`, ratio(tinyC32), verdict(tinyC32 >= GOAL_TINY_C32_VS_NAIVE)],
      ["tiny, c=1: ModelMora JSON p50 / naive p50", `≤ ${ratio(GOAL_TINY_C1_P50_VS_NAIVE)}`, ratio(tinyP50), verdict(tinyP50 <= GOAL_TINY_C1_P50_VS_NAIVE)],
      ["cls, c=32: ModelMora JSON throughput / naive", `≥ ${ratio(GOAL_CLS_C32_JSON_VS_NAIVE)}`, ratio(clsJson), verdict(clsJson >= GOAL_CLS_C32_JSON_VS_NAIVE)],
      [`cls, c=32: ModelMora REST binary throughput / ${rawLabel}`, `≥ ${percent(GOAL_CLS_C32_VS_RAW)}`, percent(clsBinary), verdict(clsBinary >= GOAL_CLS_C32_VS_RAW)],
      [`cls, c=32: ModelMora KServe gRPC raw throughput / ${rawLabel}`, `≥ ${percent(GOAL_CLS_C32_VS_RAW)}`, percent(clsGrpc), verdict(clsGrpc >= GOAL_CLS_C32_VS_RAW)],
    ],
  );
}

function rawLine(raw: readonly RawLimitRun[]): string {
  const { itemsPerSecond, perBatchSize } = rawLimit(raw);
  const sizes = perBatchSize.map(({ batchSize, itemsPerSecond: perSize }) => `batch ${batchSize}: ${formatSpread(perSize)}`).join(" · ");
  return `Raw onnxruntime limit, cls model in-process (no HTTP, no JSON), items/s — best per run ${formatSpread(itemsPerSecond)}; ${sizes}`;
}

export interface ServeReport {
  gate: LoadGate;
  machineLine: string;
  command: string;
  commit: string;
  elapsedSeconds: number;
  runs: number;
  durationSeconds: number;
  warmupSeconds: number;
  cells: readonly Cell[];
  raw: readonly RawLimitRun[];
}

export function serveReport(report: ServeReport): string {
  const heading = tableHeading(report.gate);
  return [
    `\n## Serving\n\n${report.machineLine} · load average ${report.gate.loadAverageOneMinute.toFixed(2)} at start${report.gate.quiet ? "" : " · NOT QUIET"}`,
    `\`${report.command}\` · ModelMora at ${report.commit} · ${report.elapsedSeconds.toFixed(0)} s\n`,
    `${heading}${resultsTable(report.cells)}\n`,
    `${heading}${goalsTable(report.cells, report.raw)}\n`,
    `${rawLine(report.raw)}\n`,
    `Each figure: median (min–max) over ${report.runs} run(s); ratios are medians over medians. Runs are interleaved: each run drives naive, then ModelMora over each transport, at c = 1 then 32, so drift hits both. ` +
      `tiny = generated add model (a, b FP32 [1,4]); cls = PaddleOCR ch_ppocr_mobile_v2.0_cls, x FP32 [1,3,48,192], registered with ${JSON.stringify(CLS_CONFIG)}. ` +
      `Client: bench/lib/transport-load.ts, its own bun process per cell, c loops each with one request in flight, request bodies encoded once; ${report.warmupSeconds} s warm-up then ${report.durationSeconds} s measured; latency = request start to last byte. ` +
      `naive and ModelMora REST JSON: POST /api/v1/infer/{name} with the same bytes; REST binary: POST /v2/models/{name}/infer with the KServe binary extension; gRPC: KServe ModelInfer with raw_input_contents, sent over bare HTTP/2 (node:http2, one session, the framed message built once; not grpc-js). ` +
      `client CPU = the client process's user+system time over the whole load (warm-up included) per request completed. MM mean batch = requests per batch ModelMora ran (GET /api/v1/status, warm-up included), median over runs.\n`,
  ].join("\n");
}
