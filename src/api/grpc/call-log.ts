/**
 * A grpc-js server interceptor: one access line per call (`"event":"request"`, protocol "grpc":
 * method, model, version, status name, duration_ms, request_id) and, for inference methods (names
 * containing "Infer"), `modelmora_requests_total` / `modelmora_request_duration_seconds` with
 * protocol "grpc". The request id is the client's `x-request-id` metadata or a fresh UUID, echoed in
 * the response headers. Health checks and reflection log at debug level.
 */
import { type ServerInterceptor, ServerInterceptingCall, status as GrpcStatus } from "@grpc/grpc-js";
import type { Logger } from "../../observability/logger.ts";
import type { Metrics } from "../../observability/metrics.ts";

const STATUS_NAMES = new Map<number, string>(Object.entries(GrpcStatus).filter(([, value]) => typeof value === "number").map(([name, value]) => [value as number, name]));
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const QUIET = /^\/grpc\.(health|reflection)\./;

export function callLogInterceptor(logger: Logger, metrics: Metrics | undefined): ServerInterceptor {
  return (methodDescriptor, call) => {
    const startedAt = performance.now();
    const method = methodDescriptor.path;
    let requestId: string = crypto.randomUUID();
    let model: string | undefined;
    let version: string | undefined;
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const given = metadata.get("x-request-id")[0];
            if (typeof given === "string" && REQUEST_ID.test(given)) requestId = given;
            nextMetadata(metadata);
          },
          onReceiveMessage(message, nextMessage) {
            if (model === undefined && message && typeof message === "object") {
              const fields = message as { model_name?: unknown; model_version?: unknown; name?: unknown; version?: unknown };
              const name = fields.model_name ?? fields.name;
              if (typeof name === "string" && name !== "") model = name;
              const asked = fields.model_version ?? fields.version;
              if (typeof asked === "string" && asked !== "") version = asked;
            }
            nextMessage(message);
          },
        });
      },
      sendMetadata(metadata, next) {
        metadata.set("x-request-id", requestId);
        next(metadata);
      },
      sendMessage(message, next) {
        const answered = (message as { model_version?: unknown } | null)?.model_version;
        if (typeof answered === "string" && answered !== "") version = answered;
        next(message);
      },
      sendStatus(status, next) {
        const seconds = (performance.now() - startedAt) / 1000;
        const code = STATUS_NAMES.get(status.code) ?? String(status.code);
        const line = {
          event: "request",
          protocol: "grpc",
          request_id: requestId,
          method,
          ...(model !== undefined && { model }),
          ...(version !== undefined && { version }),
          status: code,
          duration_ms: Math.round(seconds * 1e6) / 1e3,
          ...(status.code !== GrpcStatus.OK && status.details && { error: status.details }),
        };
        const serverFault = status.code === GrpcStatus.INTERNAL || status.code === GrpcStatus.UNKNOWN || status.code === GrpcStatus.DATA_LOSS || status.code === GrpcStatus.UNAVAILABLE;
        const level = serverFault ? "error" : status.code !== GrpcStatus.OK ? "warn" : QUIET.test(method) ? "debug" : "info";
        logger[level](line, `${method} ${code}`);
        if (metrics && model !== undefined && /Infer/.test(method.slice(method.lastIndexOf("/")))) {
          metrics.recordRequest({ model, version: version ?? "", protocol: "grpc", code, seconds });
        }
        next(status);
      },
    });
  };
}
