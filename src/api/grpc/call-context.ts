/**
 * What a gRPC call carries for the scheduler: its deadline (the request's deadline in the queue),
 * cancellation (a cancelled call drops its queued requests), and priority from `x-priority` metadata.
 */
import type { Metadata } from "@grpc/grpc-js";
import { type Priority, parsePriority } from "../../inference/priority.ts";
import type { TraceCarrier } from "../../observability/tracing.ts";

/** The parts of a grpc-js server call this reads (unary, server-streaming and bidi calls all have them). */
export interface CallLike {
  metadata: Metadata;
  getDeadline(): Date | number;
  cancelled: boolean;
  on(event: "cancelled", listener: () => void): unknown;
}

export interface CallContext {
  priority: Priority;
  /** Microseconds left until the call's deadline; undefined when it has none. */
  timeoutMicroseconds: number | undefined;
  /** Aborted when the client cancels the call (or its deadline passes). */
  signal: AbortSignal;
  /** W3C trace context from `traceparent` / `tracestate` metadata. */
  trace?: TraceCarrier;
}

export function callContext(call: CallLike): CallContext {
  const controller = new AbortController();
  if (call.cancelled) controller.abort();
  else call.on("cancelled", () => controller.abort());
  return { priority: priorityOf(call.metadata), timeoutMicroseconds: remainingMicroseconds(call), signal: controller.signal, trace: traceOf(call.metadata) };
}

/** `traceparent` / `tracestate` metadata, when the caller sent them. */
export function traceOf(metadata: Metadata): TraceCarrier | undefined {
  const [traceparent] = metadata.get("traceparent");
  if (traceparent === undefined) return undefined;
  const [tracestate] = metadata.get("tracestate");
  return { traceparent: String(traceparent), ...(tracestate !== undefined && { tracestate: String(tracestate) }) };
}

/** `x-priority` metadata: 1..4 or critical|high|normal|low (INVALID_INPUT otherwise); NORMAL when absent. */
export function priorityOf(metadata: Metadata): Priority {
  const [value] = metadata.get("x-priority");
  return parsePriority(typeof value === "string" ? value : value?.toString("utf8"), "x-priority");
}

/**
 * Microseconds left until the call's deadline, measured now; undefined when it has none. A stream
 * asks once per message, so each request gets what is left of the stream's deadline.
 */
export function remainingMicroseconds(call: Pick<CallLike, "getDeadline">): number | undefined {
  const deadline = call.getDeadline();
  const milliseconds = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(milliseconds)) return undefined; // Infinity: no deadline
  // A deadline already passed still becomes a (tiny) timeout: the queue answers DEADLINE_EXCEEDED.
  return Math.max(1, Math.round((milliseconds - Date.now()) * 1000));
}
