/**
 * Turns every failure on every route into the one error body: domain errors through the mapping
 * table, Elysia's own validation/parse/not-found errors into INVALID_INPUT / ROUTE_NOT_FOUND, and
 * anything else into INTERNAL (logged with its stack; the client sees no internals).
 */
import { Elysia, ValidationError } from "elysia";
import { ModelMoraError, invalidInput } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import { errorResponse } from "./error-mapping.ts";

export function errorsPlugin(logger: Logger) {
  return new Elysia({ name: "errors" }).onError({ as: "global" }, ({ code, error, request, set }) => {
    const response = toResponse(code, error, request, logger);
    // The access log reads the status from here when Elysia does not hand it the Response.
    set.status = response.status;
    return response;
  });
}

function toResponse(code: string | number, error: unknown, request: Request, logger: Logger): Response {
  if (error instanceof ModelMoraError) {
    const response = errorResponse(error);
    if (response.status >= 500) {
      logger.error({ event: "request_failed", code: error.code, error: error.message, details: error.details, method: request.method, url: request.url }, error.message);
    }
    return response;
  }
  if (code === "VALIDATION") return errorResponse(fromValidation(error as ValidationError));
  if (code === "PARSE") return errorResponse(invalidInput("request body is not valid JSON", { field: "body" }));
  if (code === "NOT_FOUND") {
    return errorResponse(new ModelMoraError("ROUTE_NOT_FOUND", `no route for ${request.method} ${new URL(request.url).pathname}`));
  }
  // pino serialises an Error only under `err` (message and stack); under another key it logs {}.
  logger.error({ event: "unhandled_error", code, err: error, method: request.method, url: request.url }, "unhandled error");
  return errorResponse(new ModelMoraError("INTERNAL", "internal server error"));
}

function fromValidation(error: ValidationError): ModelMoraError {
  const first = error.all[0] as { path?: string; message?: string; summary?: string } | undefined;
  const where = error.type === "body" ? "body" : error.type;
  const pointer = first?.path ? first.path.replace(/^\//, "").replace(/\//g, ".") : "";
  const field = pointer ? pointer.replace(/\.(\d+)(?=\.|$)/g, "[$1]") : where;
  const reason = first?.summary ?? first?.message ?? "does not match the schema";
  return invalidInput(`${field}: ${reason}`, { field, in: where });
}
