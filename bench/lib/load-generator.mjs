/**
 * The load generator, run by `node` as its own process so it never shares an event loop (or a
 * CPU-time budget inside one process) with the bench or the servers under test. It drives one URL
 * with autocannon's API: a warm-up at the same concurrency (discarded), then the measured run.
 *
 * Usage: node bench/lib/load-generator.mjs '{"url":…,"bodyFile":…,"connections":32,"durationSeconds":8,"warmupSeconds":2}'
 * Prints one JSON line: { requestsPerSecond, p50Milliseconds, p99Milliseconds, ok, non2xx, errors, timeouts, durationSeconds }.
 *
 * Latency percentiles are computed here from every 2xx response time (float milliseconds from
 * autocannon's `response` event): autocannon's own histogram rounds to whole milliseconds, which
 * would hide the sub-millisecond differences the tiny model is about.
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const options = JSON.parse(process.argv[2] ?? "{}");
const body = readFileSync(options.bodyFile);

function drive(durationSeconds, latencies) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        connections: options.connections,
        duration: durationSeconds,
        timeout: 30,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (latencies && statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
}

function percentile(sorted, fraction) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

if (options.warmupSeconds > 0) await drive(options.warmupSeconds, undefined);
const latencies = [];
const result = await drive(options.durationSeconds, latencies);
latencies.sort((left, right) => left - right);
process.stdout.write(
  `${JSON.stringify({
    requestsPerSecond: result["2xx"] / result.duration,
    p50Milliseconds: percentile(latencies, 0.5),
    p99Milliseconds: percentile(latencies, 0.99),
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationSeconds: result.duration,
  })}\n`,
);
