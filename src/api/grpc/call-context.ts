/**
 * The one call context of both gRPC APIs: what a call carries for the scheduler — its deadline (the
 * request's deadline in the queue), cancellation (a cancelled call drops its queued requests),
 * priority from `x-priority` metadata, and the caller's trace context. A request message may
 * narrow it (its own priority, a shorter timeout: `shorterTimeout`).
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

/** What the call contributes to each of its requests. */
export interface CallContext {
  priority: Priority;
  /** Microseconds left until the call's deadline; undefined when it has none. */
  timeoutMicroseconds: number | undefined;
  /** Aborted when the client cancels the call (or its deadline passes). */
  signal: AbortSignal;
  /** W3C trace context from `traceparent` / `tracestate` metadata. */
  trace?: TraceCarrier;
}

/** The call's context, read once per call; INVALID_INPUT for a malformed `x-priority`. */
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

/**
 * The context for one message of a stream: the stream's, with the time left on its deadline now,
 * so each request gets what remains of the stream's deadline when it arrives.
 */
export function messageContext(context: CallContext, call: Pick<CallLike, "getDeadline">): CallContext {
  return { ...context, timeoutMicroseconds: remainingMicroseconds(call) };
}

/** The shorter of two optional timeouts (a request's own and its call's); undefined when neither is set. */
export function shorterTimeout(first: number | undefined, second: number | undefined): number | undefined {
  if (first === undefined) return second;
  if (second === undefined) return first;
  return Math.min(first, second);
}
