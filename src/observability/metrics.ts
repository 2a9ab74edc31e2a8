/**
 * The Prometheus metrics of one server (prom-client, a registry of its own so that several server
 * cores in one process never share counters). Names and units follow Prometheus conventions:
 * `_total` counters, `_seconds` histograms in base units, few labels.
 *
 * What feeds them: the REST access-log plugin and the gRPC call interceptor record requests
 * (`recordRequest`); the scheduler observer (scheduler-metrics.ts) records queue time, compute time
 * and batch sizes; the status collector (status-metrics.ts) reads queue depth, loaded models,
 * worker RSS and the pool's load/eviction/restart counts at scrape time.
 *
 * @example
 * const metrics = createMetrics();
 * metrics.recordRequest({ model: "m", version: "1", protocol: "rest", code: "200", seconds: 0.004 });
 * const text = await metrics.registry.metrics();
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type Protocol = "rest" | "grpc";

export interface RequestRecord {
  model: string;
  /** The version that answered, else the one asked for, else "" (the active version, unresolved). */
  version: string;
  protocol: Protocol;
  /** HTTP status for REST ("200", "404"), the gRPC status name for gRPC ("OK", "NOT_FOUND"). */
  code: string;
  seconds: number;
}

/**
 * Latency buckets from 1 ms to 30 s: a tiny model answers in about a millisecond, a cold load or a
 * queue under load takes seconds. More buckets cost series per model; these cover both ends.
 */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Powers of two up to the largest maxBatchSize seen in practice. */
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export interface Metrics {
  registry: Registry;
  requests: Counter<"model" | "version" | "protocol" | "code">;
  requestDuration: Histogram<"model" | "version" | "protocol">;
  queueDuration: Histogram<"model" | "version">;
  computeDuration: Histogram<"model" | "version">;
  batchSize: Histogram<"model" | "version">;
  recordRequest(record: RequestRecord): void;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "modelmora_requests_total",
    help: "Inference requests answered, by model, version, protocol (rest|grpc) and outcome code (HTTP status or gRPC status name)",
    labelNames: ["model", "version", "protocol", "code"] as const,
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: "modelmora_request_duration_seconds",
    help: "End-to-end inference latency as the transport saw it (receive to answer), in seconds",
    labelNames: ["model", "version", "protocol"] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  const queueDuration = new Histogram({
    name: "modelmora_queue_duration_seconds",
    help: "Time a request waited in its model's queue before its batch was dispatched, in seconds",
    labelNames: ["model", "version"] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  const computeDuration = new Histogram({
    name: "modelmora_compute_duration_seconds",
    help: "Time one batch took from dispatch to results (worker load if cold, IPC and session.run), in seconds",
    labelNames: ["model", "version"] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: "modelmora_batch_size",
    help: "Requests per dispatched batch",
    labelNames: ["model", "version"] as const,
    buckets: BATCH_SIZE_BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    requests,
    requestDuration,
    queueDuration,
    computeDuration,
    batchSize,
    recordRequest({ model, version, protocol, code, seconds }) {
      requests.inc({ model, version, protocol, code });
      requestDuration.observe({ model, version, protocol }, seconds);
    },
  };
}
