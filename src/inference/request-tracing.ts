/**
 * The spans of one inference request when tracing is on: `modelmora.infer` (the request, child of
 * the caller's W3C trace context), `modelmora.queue` (its time in the queue, ended at dispatch),
 * `modelmora.batch` (its batch's run) and `modelmora.worker.compute` (the worker's own run time).
 * With tracing off every method is a no-op that costs one branch.
 */
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { ModelMoraError } from "../errors.ts";
import type { InferResult } from "../lifecycle/worker-process.ts";
import { NO_TRACING, type Tracing } from "../observability/tracing.ts";
import type { ResolvedVersion } from "../registry/registry.ts";
import type { InferenceRequest, PreparedRequest } from "./requests.ts";

/** A traced request's spans: its own, and its time in the queue. */
export interface RequestSpans {
  request: Span;
  queue: Span;
}

export class RequestTracing {
  constructor(private readonly tracing: Tracing = NO_TRACING) {}

  /** The request's span, or undefined when tracing is off. */
  startRequest(request: InferenceRequest | PreparedRequest): Span | undefined {
    if (!this.tracing.enabled) return undefined;
    const parent = this.tracing.extract(request.trace ?? {});
    return this.tracing.tracer.startSpan(
      "modelmora.infer",
      { kind: SpanKind.SERVER, attributes: { "modelmora.model": request.model, "modelmora.priority": request.priority } },
      parent,
    );
  }

  /** The request failed: its span says why (and the domain code). */
  failRequest(span: Span | undefined, error: unknown): void {
    if (!span) return;
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    if (error instanceof ModelMoraError) span.setAttribute("modelmora.error_code", error.code);
  }

  /** The request is about to be queued on `target`: its queue span starts. */
  startQueue(request: Span | undefined, target: ResolvedVersion): RequestSpans | undefined {
    if (!request) return undefined;
    request.setAttribute("modelmora.version", target.version);
    return { request, queue: this.tracing.tracer.startSpan("modelmora.queue", {}, trace.setSpan(ROOT_CONTEXT, request)) };
  }

  /** At dispatch: each traced request leaves the queue and enters the batch. */
  startBatch(members: readonly { spans: RequestSpans | undefined }[]): (Span | undefined)[] | undefined {
    if (!this.tracing.enabled) return undefined;
    return members.map(({ spans }) => {
      if (!spans) return undefined;
      spans.queue.end();
      return this.tracing.tracer.startSpan("modelmora.batch", { attributes: { "modelmora.batch_size": members.length } }, trace.setSpan(ROOT_CONTEXT, spans.request));
    });
  }

  /** The batch answered: its spans end, and the worker's run becomes a span with the worker's own times. */
  endBatch(batchSpans: (Span | undefined)[] | undefined, result: InferResult): void {
    batchSpans?.forEach((batchSpan) => {
      if (!batchSpan) return;
      if (result.computeStartedAtMilliseconds !== undefined) {
        const startTime = result.computeStartedAtMilliseconds;
        const compute = this.tracing.tracer.startSpan(
          "modelmora.worker.compute",
          { startTime, attributes: { "modelmora.batch_size": batchSpans.length } },
          trace.setSpan(ROOT_CONTEXT, batchSpan),
        );
        compute.end(startTime + result.computeMicroseconds / 1000);
      }
      batchSpan.end();
    });
  }

  /** The batch failed: each of its spans ends with the error. */
  failBatch(batchSpans: (Span | undefined)[] | undefined, error: unknown): void {
    for (const span of batchSpans ?? []) {
      span?.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      span?.end();
    }
  }
}
