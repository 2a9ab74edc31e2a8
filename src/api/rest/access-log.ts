/**
 * One access line per REST request, the request id, and request metrics.
 *
 * - Request id: the client's `x-request-id` (up to 128 visible ASCII characters) or a fresh UUID;
 *   echoed in the response's `x-request-id` header and in the access line.
 * - Access line (`"event":"request"`): method, route pattern, path, model, version, status,
 *   duration_ms, request_id. Probes (`/health/*`, `/v2/health/*`, `/metrics`) log at debug level so
 *   they do not drown the rest; everything else at info, 4xx at warn, 5xx at error.
 * - Inference routes (those ending in `/infer`) feed `modelmora_requests_total` and
 *   `modelmora_request_duration_seconds` with protocol "rest".
 */
import { Elysia } from "elysia";
import { batchedLogger, type Logger } from "../../observability/logger.ts";
import type { Metrics } from "../../observability/metrics.ts";
import { originalRequest } from "./request-identity.ts";

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const PROBE = /^\/(health\/|v2\/health\/|metrics$)/;

interface Started {
  id: string;
  startedAt: number;
}

export function accessLogPlugin(logger: Logger, metrics: Metrics | undefined) {
  const started = new WeakMap<Request, Started>();
  const lines = batchedLogger(logger);
  return new Elysia({ name: "access-log" })
    .onRequest(({ request, set }) => {
      const given = request.headers.get("x-request-id");
      const id = given !== null && REQUEST_ID.test(given) ? given : crypto.randomUUID();
      started.set(request, { id, startedAt: performance.now() });
      set.headers["x-request-id"] = id;
    })
    // Destructured, never handed on whole: see request-identity.ts.
    .onAfterResponse({ as: "global" }, ({ request, set, path, route, params, query, code, responseValue }: AfterResponse) => {
      const start = started.get(originalRequest(request));
      const seconds = start ? (performance.now() - start.startedAt) / 1000 : 0;
      const status = statusOf(responseValue, set.status, code);
      const model = params?.name;
      const answered = responseValue !== null && typeof responseValue === "object" ? (responseValue as { model_version?: unknown }).model_version : undefined;
      const version = typeof answered === "string" ? answered : (params?.version ?? query?.version);
      const line = {
        event: "request",
        request_id: start?.id,
        method: request.method,
        route: route ?? null,
        path,
        ...(model !== undefined && { model }),
        ...(version !== undefined && { version }),
        status,
        duration_ms: Math.round(seconds * 1e6) / 1e3,
      };
      const level = status >= 500 ? "error" : status >= 400 ? "warn" : PROBE.test(path) ? "debug" : "info";
      lines[level](line, `${request.method} ${path} ${status}`);
      if (metrics && model !== undefined && /\/infer(\/|$)/.test(route ?? "")) {
        metrics.recordRequest({ model, version: version ?? "", protocol: "rest", code: String(status), seconds });
      }
    });
}

/** What the after-response hook reads of Elysia's context (some of it untyped there). */
interface AfterResponse {
  request: Request;
  set: { status?: unknown };
  path: string;
  route?: string;
  params?: Record<string, string | undefined>;
  query?: Record<string, string | undefined>;
  code?: string;
  responseValue?: unknown;
}

/** A Response carries its own status; else the handler's `set.status`; Elysia's NOT_FOUND is 404. */
function statusOf(responseValue: unknown, setStatus: unknown, code: string | undefined): number {
  if (responseValue instanceof Response) return responseValue.status;
  if (code === "NOT_FOUND") return 404;
  return typeof setStatus === "number" ? setStatus : 200;
}
