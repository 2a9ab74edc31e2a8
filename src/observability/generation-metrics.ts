/**
 * Metrics of text generation (txt2txt), registered on the server's metrics registry:
 * - `modelmora_generation_time_to_first_token_seconds`: from the request reaching the service to
 *   its first token (queueing for a slot, loading and prefill included);
 * - `modelmora_generation_inter_token_seconds`: between two tokens of one sequence (one decoding
 *   step of the shared batch, as that sequence saw it);
 * - `modelmora_generated_tokens_total`: tokens generated; `rate()` of it is tokens/s per model;
 * - `modelmora_generation_sequences_total`: finished sequences by finish reason;
 * - `modelmora_generation_sequences_running` / `_waiting`: sequences decoding now, and waiting for a
 *   slot (`maxConcurrentSequences`), per model version.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** 1 ms to 30 s: a prefill of a small model takes milliseconds, a queued one waits seconds. */
const FIRST_TOKEN_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** 0.1 ms to 2.5 s: one decoding step. */
const INTER_TOKEN_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface GenerationMetrics {
  timeToFirstToken: Histogram<"model" | "version">;
  interToken: Histogram<"model" | "version">;
  tokens: Counter<"model" | "version">;
  sequences: Counter<"model" | "version" | "finish_reason">;
  running: Gauge<"model" | "version">;
  waiting: Gauge<"model" | "version">;
}

export function createGenerationMetrics(registry: Registry): GenerationMetrics {
  const labelNames = ["model", "version"] as const;
  return {
    timeToFirstToken: new Histogram({
      name: "modelmora_generation_time_to_first_token_seconds",
      help: "Time from a generation request to its first token (queue, load and prefill included), in seconds",
      labelNames, buckets: FIRST_TOKEN_BUCKETS_SECONDS, registers: [registry],
    }),
    interToken: new Histogram({
      name: "modelmora_generation_inter_token_seconds",
      help: "Time between two tokens of one generated sequence, in seconds",
      labelNames, buckets: INTER_TOKEN_BUCKETS_SECONDS, registers: [registry],
    }),
    tokens: new Counter({ name: "modelmora_generated_tokens_total", help: "Tokens generated (rate() is tokens/s)", labelNames, registers: [registry] }),
    sequences: new Counter({
      name: "modelmora_generation_sequences_total",
      help: "Generated sequences finished, by finish reason (stop|length|cancelled)",
      labelNames: ["model", "version", "finish_reason"] as const, registers: [registry],
    }),
    running: new Gauge({ name: "modelmora_generation_sequences_running", help: "Generated sequences decoding now", labelNames, registers: [registry] }),
    waiting: new Gauge({ name: "modelmora_generation_sequences_waiting", help: "Generated sequences waiting for a slot (maxConcurrentSequences)", labelNames, registers: [registry] }),
  };
}
