/**
 * Closed-loop load over one of three transports, run by `bun` as its own process (never sharing an
 * event loop with the bench or the server under test). The same driver for all three, so the
 * client's own cost differs only by what the transport asks of it:
 *
 * - `grpc`: KServe v2 `inference.GRPCInferenceService/ModelInfer` with the input as
 *   `raw_input_contents` (outputs come back as `raw_output_contents`); one grpc-js channel, so the
 *   in-flight calls share one HTTP/2 connection, as a grpc-js client would have them.
 * - `rest-json`: `POST /v2/models/{m}/infer` with a JSON body (`data` as numbers), JSON answer.
 * - `rest-binary`: the same route with the binary tensor extension: `Inference-Header-Content-Length`,
 *   the JSON header, then the input's raw bytes; `binary_data_output: true`, so the answer is framed
 *   the same way. REST uses Bun's `fetch` (keep-alive; one connection per in-flight request).
 *
 * `connections` requests are in flight at all times: each of that many loops sends a request, reads
 * its whole answer, and sends the next. The first `warmupSeconds` are discarded; then requests that
 * complete within the next `durationSeconds` are counted (req/s) and their latencies (start to last
 * byte, float ms) give p50/p99. Requests still in flight at the end are awaited, not counted.
 *
 * Usage: bun bench/lib/transport-load.ts '{"transport":"grpc","target":"127.0.0.1:50051","model":…,
 *   "input":{"name":"x","shape":[1,3,48,192],"seed":3},"connections":32,"warmupSeconds":1,"durationSeconds":4}'
 * (`target` is host:port for grpc, the server's base URL for REST.)
 * Prints one JSON line: { requestsPerSecond, p50Milliseconds, p99Milliseconds, ok, failed, durationSeconds,
 * firstError?, clientCpuMillisecondsPerRequest, firstOutput: { name, values } }.
 */
import { type Client, type GrpcObject, type ServiceClientConstructor, type ServiceError, credentials } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { elementCount, pseudoRandomValues } from "./data.ts";

export type Transport = "grpc" | "rest-json" | "rest-binary";

export interface TransportLoadSpec {
  transport: Transport;
  target: string;
  model: string;
  input: { name: string; shape: number[]; seed: number };
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
  /** This client process's CPU time (user + system) over the measured window, per request counted. */
  clientCpuMillisecondsPerRequest: number;
  /** The first output of the first answer, decoded: the bench checks all transports agree. */
  firstOutput: { name: string; values: number[] };
}

/** One request; resolves with the first output, decoded, or rejects. */
type Send = () => Promise<{ name: string; values: ArrayLike<number> }>;

const HEADER_LENGTH_HEADER = "inference-header-content-length";

function float32(bytes: Uint8Array): Float32Array {
  // Copy: the bytes may not be 4-byte aligned inside their buffer (and a Buffer's slice() is a view).
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

async function grpcSender(spec: TransportLoadSpec, values: number[]): Promise<{ send: Send; close(): void }> {
  const inference = loadProtos(["kserve/grpc_predict_v2.proto"]).grpcObject.inference as GrpcObject;
  const Constructor = inference.GRPCInferenceService as ServiceClientConstructor;
  type InferClient = Client & {
    ModelInfer(request: object, callback: (error: ServiceError | null, response?: { outputs: { name: string }[]; raw_output_contents: Buffer[] }) => void): void;
  };
  const client = new Constructor(spec.target, credentials.createInsecure(), { "grpc.max_receive_message_length": -1 }) as unknown as InferClient;
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
  const request = {
    model_name: spec.model,
    inputs: [{ name: spec.input.name, datatype: "FP32", shape: spec.input.shape.map(String) }],
    raw_input_contents: [Buffer.from(Float32Array.from(values).buffer)],
  };
  const send: Send = () =>
    new Promise((resolve, reject) =>
      client.ModelInfer(request, (error, response) => {
        if (error || !response) return reject(error ?? new Error("no response"));
        const raw = response.raw_output_contents[0];
        if (!raw) return reject(new Error("answer without raw_output_contents"));
        resolve({ name: response.outputs[0]?.name ?? "", values: float32(raw) });
      }),
    );
  return { send, close: () => client.close() };
}

function restJsonSender(spec: TransportLoadSpec, values: number[]): { send: Send; close(): void } {
  const url = `${spec.target}/v2/models/${spec.model}/infer`;
  const body = JSON.stringify({ inputs: [{ name: spec.input.name, shape: spec.input.shape, datatype: "FP32", data: values }] });
  const headers = { "content-type": "application/json" };
  const send: Send = async () => {
    const response = await fetch(url, { method: "POST", headers, body });
    const text = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status} ${text.slice(0, 300)}`);
    const output = (JSON.parse(text) as { outputs: { name: string; data: number[] }[] }).outputs[0]!;
    return { name: output.name, values: output.data };
  };
  return { send, close() {} };
}

function restBinarySender(spec: TransportLoadSpec, values: number[]): { send: Send; close(): void } {
  const url = `${spec.target}/v2/models/${spec.model}/infer`;
  const raw = new Uint8Array(Float32Array.from(values).buffer);
  const header = new TextEncoder().encode(
    JSON.stringify({
      inputs: [{ name: spec.input.name, shape: spec.input.shape, datatype: "FP32", parameters: { binary_data_size: raw.byteLength } }],
      parameters: { binary_data_output: true },
    }),
  );
  const body = new Uint8Array(header.byteLength + raw.byteLength);
  body.set(header, 0);
  body.set(raw, header.byteLength);
  const headers = { "content-type": "application/octet-stream", [HEADER_LENGTH_HEADER]: String(header.byteLength) };
  const send: Send = async () => {
    const response = await fetch(url, { method: "POST", headers, body });
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (!response.ok) throw new Error(`HTTP ${response.status} ${new TextDecoder().decode(bytes.subarray(0, 300))}`);
    const length = Number(response.headers.get(HEADER_LENGTH_HEADER) ?? Number.NaN);
    if (!Number.isInteger(length)) throw new Error(`answer without ${HEADER_LENGTH_HEADER} (content-type ${response.headers.get("content-type")})`);
    const outputs = (JSON.parse(new TextDecoder().decode(bytes.subarray(0, length))) as { outputs: { name: string; parameters?: { binary_data_size?: number } }[] }).outputs;
    const first = outputs[0]!;
    const size = first.parameters?.binary_data_size;
    if (size === undefined) throw new Error(`output "${first.name}" came back as JSON, not binary`);
    return { name: first.name, values: float32(bytes.subarray(length, length + size)) };
  };
  return { send, close() {} };
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

export async function runTransportLoad(spec: TransportLoadSpec): Promise<TransportLoadResult> {
  const values = pseudoRandomValues(elementCount(spec.input.shape), spec.input.seed);
  const sender =
    spec.transport === "grpc" ? await grpcSender(spec, values) : spec.transport === "rest-json" ? restJsonSender(spec, values) : restBinarySender(spec, values);
  try {
    // One request first, alone: a broken transport fails here, with its message, before any load.
    const first = await sender.send();
    const firstOutput = { name: first.name, values: Array.from(first.values) };

    const started = performance.now();
    const measureFrom = started + spec.warmupSeconds * 1000;
    const measureUntil = measureFrom + spec.durationSeconds * 1000;
    const latencies: number[] = [];
    let failed = 0;
    let firstError: string | undefined;
    let cpuAtStart: NodeJS.CpuUsage | undefined;
    let cpuUsed: NodeJS.CpuUsage | undefined;
    const startTimer = setTimeout(() => (cpuAtStart = process.cpuUsage()), spec.warmupSeconds * 1000);
    const endTimer = setTimeout(() => (cpuUsed = process.cpuUsage(cpuAtStart)), (spec.warmupSeconds + spec.durationSeconds) * 1000);
    const loop = async () => {
      while (performance.now() < measureUntil) {
        const sent = performance.now();
        try {
          await sender.send();
          const done = performance.now();
          if (done >= measureFrom && done <= measureUntil) latencies.push(done - sent);
        } catch (error) {
          const done = performance.now();
          if (done >= measureFrom && done <= measureUntil) failed++;
          firstError ??= String(error);
        }
      }
    };
    await Promise.all(Array.from({ length: spec.connections }, loop));
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    // The loops end with the first answer after the window; the timer may not have fired yet.
    cpuUsed ??= process.cpuUsage(cpuAtStart);
    const cpuMilliseconds = cpuUsed ? (cpuUsed.user + cpuUsed.system) / 1000 : Number.NaN;
    latencies.sort((left, right) => left - right);
    return {
      requestsPerSecond: latencies.length / spec.durationSeconds,
      p50Milliseconds: percentile(latencies, 0.5),
      p99Milliseconds: percentile(latencies, 0.99),
      ok: latencies.length,
      failed,
      durationSeconds: spec.durationSeconds,
      ...(firstError === undefined ? {} : { firstError }),
      clientCpuMillisecondsPerRequest: cpuMilliseconds / latencies.length,
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
