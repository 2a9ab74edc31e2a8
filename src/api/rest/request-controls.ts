/**
 * How an HTTP inference call controls its request, whatever its body: priority (the body's
 * `parameters.priority`, else the `x-priority` header), timeout (`parameters.timeout_ms`),
 * keep-alive (`parameters.keep_alive_seconds`), cancellation (the request's signal) and the W3C
 * trace context (`traceparent` / `tracestate` headers).
 */
import { parsePriority } from "../../inference/priority.ts";
import type { InferenceRequest } from "../../inference/service.ts";

export interface ControlParameters {
  priority?: number | string;
  timeout_ms?: number;
  keep_alive_seconds?: number;
}

export function requestControls(
  parameters: ControlParameters | undefined,
  headers: Record<string, string | undefined>,
  request: Request,
): Pick<InferenceRequest, "priority" | "timeoutMicroseconds" | "keepAliveSeconds" | "signal" | "trace"> {
  return {
    priority: parsePriority(parameters?.priority ?? headers["x-priority"], parameters?.priority !== undefined ? "parameters.priority" : "x-priority"),
    timeoutMicroseconds: parameters?.timeout_ms === undefined ? undefined : Math.round(parameters.timeout_ms * 1000),
    keepAliveSeconds: parameters?.keep_alive_seconds,
    signal: request.signal,
    ...(headers.traceparent !== undefined && { trace: { traceparent: headers.traceparent, tracestate: headers.tracestate } }),
  };
}
