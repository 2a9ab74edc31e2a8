/**
 * How every gRPC service reports failures: each error goes through `toServiceError` (the one
 * gRPC mapping); anything that is not a ModelMoraError is a bug, logged here with its stack and
 * answered as INTERNAL without it. `unary` is the one wrapper for unary handlers, used by the KServe
 * and the modelmora.v1 services alike.
 */
import type { handleUnaryCall, ServerUnaryCall, ServiceError } from "@grpc/grpc-js";
import { ModelMoraError } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import { toServiceError } from "./status-mapping.ts";

/** A failure as a gRPC status (for a callback or a stream's 'error'), logging unexpected ones. */
export function reportError(logger: Logger, method: string, error: unknown): Partial<ServiceError> {
  logUnexpected(logger, method, error);
  return toServiceError(error);
}

/** Logs an error that is not a ModelMoraError (a bug), with its stack; domain errors are answers, not logged here. */
export function logUnexpected(logger: Logger, method: string, error: unknown): void {
  if (!(error instanceof ModelMoraError)) logger.error({ event: "grpc_unhandled_error", method, err: error }, "unhandled error in a gRPC handler");
}

/**
 * A unary handler from an async function: its value answers the call, its rejection goes through
 * the status mapping.
 *
 * @example
 * GetModel: unary(logger, (request: GetModelRequest) => models.get(request.name).then(toModelMessage)),
 */
export function unary<Request, Response>(
  logger: Logger,
  handler: (request: Request, call: ServerUnaryCall<Request, Response>) => Promise<Response>,
): handleUnaryCall<Request, Response> {
  return (call, callback) => {
    // A handler that throws synchronously is caught too: the call becomes a promise first.
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(reportError(logger, call.getPath(), error)),
      );
  };
}
