/** `GET /metrics`: the server's Prometheus metrics in the text exposition format. */
import { Elysia } from "elysia";
import type { Metrics } from "../../observability/metrics.ts";

export function metricsPlugin(metrics: Metrics) {
  return new Elysia({ name: "metrics", detail: { tags: ["metrics"] } }).get(
    "/metrics",
    async () => new Response(await metrics.registry.metrics(), { headers: { "content-type": metrics.registry.contentType } }),
    { detail: { summary: "Prometheus metrics: requests, latency, queue and compute time, batch sizes, queue depth, workers, process" } },
  );
}
