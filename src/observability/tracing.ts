/**
 * Traces through the OpenTelemetry API. Spans are recorded only when an exporter is configured:
 * OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set,
 * or one given in code (tests pass an in-memory exporter). Otherwise `enabled` is false and the
 * inference path creates no span at all, so tracing costs nothing when off.
 *
 * Incoming W3C `traceparent` / `tracestate` (REST headers, gRPC metadata) become the parent of the
 * request's `modelmora.infer` span; under it `modelmora.queue` (enqueue → dispatch),
 * `modelmora.batch` (dispatch → answer, with the batch size) and `modelmora.worker.compute` (the
 * worker's own run, timed by the worker's clock).
 */
import { type Context, ROOT_CONTEXT, type TextMapGetter, type Tracer, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, TracerProvider } from "@opentelemetry/sdk-trace";

/** The W3C trace-context headers a request carried, if any. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

export interface Tracing {
  /** False when no exporter is configured: callers skip span work entirely. */
  readonly enabled: boolean;
  readonly tracer: Tracer;
  /** The context an incoming traceparent names, or the root context. */
  extract(carrier: TraceCarrier): Context;
  /** Flushes and stops the exporter. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
const getter: TextMapGetter<TraceCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => (key === "traceparent" ? carrier.traceparent : key === "tracestate" ? carrier.tracestate : undefined),
};

export const NO_TRACING: Tracing = {
  enabled: false,
  tracer: trace.getTracer("modelmora"),
  extract: () => ROOT_CONTEXT,
  shutdown: async () => undefined,
};

/**
 * @example
 * const tracing = createTracing(process.env); // OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
 * const tracing = createTracing({}, new InMemorySpanExporter()); // tests
 */
export function createTracing(environment: Record<string, string | undefined>, exporter?: SpanExporter): Tracing {
  const otlpConfigured = Boolean(environment.OTEL_EXPORTER_OTLP_ENDPOINT || environment.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (!exporter && !otlpConfigured) return NO_TRACING;
  // Given exporters (tests) see each span at once; OTLP batches them off the request path.
  const processor = exporter ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter: new OTLPTraceExporter() });
  const provider = new TracerProvider({ spanProcessors: [processor] });
  return {
    enabled: true,
    tracer: provider.getTracer("modelmora"),
    extract: (carrier) => (carrier.traceparent ? propagator.extract(ROOT_CONTEXT, carrier, getter) : ROOT_CONTEXT),
    shutdown: () => provider.shutdown(),
  };
}
