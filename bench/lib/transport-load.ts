/**
 * Closed-loop load over one of three transports, run by `bun` as its own process (never sharing an
 * event loop with the bench or the server under test). The same driver for all three and for every
 * server, so the client's own cost differs only by what the transport asks of it, and it is
 * reported: the client's CPU time per request.
 *
 * Every request body is built once, before any load, and sent as the same bytes each time:
 * - `grpc`: KServe v2 `inference.GRPCInferenceService/ModelInfer` with the inputs as
 *   `raw_input_contents` (outputs come back as `raw_output_contents`). The request message is
 *   serialized once and passed through grpc-js as bytes; one channel, so the in-flight calls share
 *   one HTTP/2 connection, as a grpc-js client would have them.
 * - `grpc-h2`: the same call over bare HTTP/2 (`node:http2`, one session): the framed message is
 *   built once and each call is one stream; the same bytes on the wire without grpc-js's per-call
 *   machinery, so the client stays cheap beside the server (the serving bench's gRPC cells).
 * - `rest-json`: POST of a KServe JSON body (`data` as numbers, encoded once to bytes), JSON answer;
 *   to `/v2/models/{m}/infer` or to `restPath` (e.g. `/api/v1/infer/{m}`, the naive server's route).
 * - `rest-binary`: the KServe route with the binary tensor extension: `Inference-Header-Content-Length`,
 *   the JSON header, then the inputs' raw bytes; `binary_data_output: true`, so the answer is framed
 *   the same way. REST uses Bun's `fetch` (keep-alive; one connection per in-flight request).
 *
 * `connections` requests are in flight at all times: each of that many loops sends a request, reads
 * its whole answer, and sends the next. The first `warmupSeconds` are discarded; then requests that
 * complete within the next `durationSeconds` are counted (req/s) and their latencies (start to last
 * byte, float ms) give p50/p99. Requests still in flight at the end are awaited, not counted.
 * Client CPU: `process.cpuUsage()` (user + system) from the first loop's start to the last answer,
 * over every request completed in that time (warm-up included), so timers never skew it.
 *
 * Usage: bun bench/lib/transport-load.ts '{"transport":"grpc","target":"127.0.0.1:50051","model":…,
 *   "inputs":[{"name":"x","shape":[1,3,48,192],"seed":3}],"connections":32,"warmupSeconds":1,"durationSeconds":4}'
 * (`target` is host:port for grpc, the server's base URL for REST.)
 * Prints one JSON line: TransportLoadResult.
 */
import { elementCount, pseudoRandomValues } from "./data.ts";
import { grpcH2Sender } from "./grpc-h2-sender.ts";
import { grpcSender } from "./grpc-sender.ts";
import { restBinarySender, restJsonSender } from "./rest-senders.ts";

export type Transport = "grpc" | "grpc-h2" | "rest-json" | "rest-binary";

export interface InputSpec {
  name: string;
  shape: number[];
  /** Seed of `pseudoRandomValues`: the same seed gives the same values on every transport. */
  seed: number;
}

export interface TransportLoadSpec {
  transport: Transport;
  target: string;
  model: string;
  /** REST only: the path to POST to; default `/v2/models/{model}/infer`. */
  restPath?: string;
  inputs: InputSpec[];
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

export interface TransportLoadResult {
  requestsPerSecond: number;
  p50Milliseconds: number;
  p99Milliseconds: number;
  ok: number;
  failed: number;
  durationSeconds: number;
  firstError?: string;
  /** This client process's CPU time (user + system) over the whole load, per request completed in it. */
  clientCpuMicrosecondsPerRequest: number;
  /** The first output of the first answer, decoded: the bench checks all servers and transports agree. */
  firstOutput: { name: string; values: number[] };
}

/** An input with its values, as every sender encodes it. */
export interface InputValues {
  name: string;
  shape: number[];
  values: number[];
}

/** One request; resolves with the first output, decoded, or rejects. */
export type Send = () => Promise<{ name: string; values: ArrayLike<number> }>;

export interface Sender {
  send: Send;
  close(): void;
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

async function openSender(spec: TransportLoadSpec, inputs: InputValues[]): Promise<Sender> {
  if (spec.transport === "grpc") return grpcSender(spec.target, spec.model, inputs);
  if (spec.transport === "grpc-h2") return grpcH2Sender(spec.target, spec.model, inputs);
  const url = `${spec.target}${spec.restPath ?? `/v2/models/${spec.model}/infer`}`;
  return spec.transport === "rest-json" ? restJsonSender(url, inputs) : restBinarySender(url, inputs);
}

export async function runTransportLoad(spec: TransportLoadSpec): Promise<TransportLoadResult> {
  const inputs = spec.inputs.map(({ name, shape, seed }) => ({ name, shape, values: pseudoRandomValues(elementCount(shape), seed) }));
  const sender = await openSender(spec, inputs);
  try {
    // One request first, alone: a broken transport fails here, with its message, before any load.
    const first = await sender.send();
    const firstOutput = { name: first.name, values: Array.from(first.values) };

    const started = performance.now();
    const measureFrom = started + spec.warmupSeconds * 1000;
    const measureUntil = measureFrom + spec.durationSeconds * 1000;
    const latencies: number[] = [];
    let completed = 0;
    let failed = 0;
    let firstError: string | undefined;
    const cpuAtStart = process.cpuUsage();
    const loop = async () => {
      while (performance.now() < measureUntil) {
        const sent = performance.now();
        try {
          await sender.send();
          const done = performance.now();
          completed++;
          if (done >= measureFrom && done <= measureUntil) latencies.push(done - sent);
        } catch (error) {
          const done = performance.now();
          if (done >= measureFrom && done <= measureUntil) failed++;
          firstError ??= String(error);
        }
      }
    };
    await Promise.all(Array.from({ length: spec.connections }, loop));
    const cpu = process.cpuUsage(cpuAtStart);
    latencies.sort((left, right) => left - right);
    return {
      requestsPerSecond: latencies.length / spec.durationSeconds,
      p50Milliseconds: percentile(latencies, 0.5),
      p99Milliseconds: percentile(latencies, 0.99),
      ok: latencies.length,
      failed,
      durationSeconds: spec.durationSeconds,
      ...(firstError === undefined ? {} : { firstError }),
      clientCpuMicrosecondsPerRequest: (cpu.user + cpu.system) / completed,
      firstOutput,
    };
  } finally {
    sender.close();
  }
}

if (import.meta.main) {
  const result = await runTransportLoad(JSON.parse(process.argv[2] ?? "{}") as TransportLoadSpec);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
