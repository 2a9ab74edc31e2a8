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
  if (code === "VALIDATION") return errorResponse(unsupportedMediaType(error as ValidationError, request) ?? fromValidation(error as ValidationError));
  if (code === "PARSE") return errorResponse(invalidInput("request body is not valid JSON", { field: "body" }));
  if (code === "NOT_FOUND") {
    return errorResponse(new ModelMoraError("ROUTE_NOT_FOUND", `no route for ${request.method} ${new URL(request.url).pathname}`));
  }
  // pino serialises an Error only under `err` (message and stack); under another key it logs {}.
  logger.error({ event: "unhandled_error", code, err: error, method: request.method, url: request.url }, "unhandled error");
  return errorResponse(new ModelMoraError("INTERNAL", "internal server error"));
}

/**
 * Every failing field in one answer (a register body missing name and source names both), each
 * once: `details.field` is the first, `details.fields` all of them.
 */
function fromValidation(error: ValidationError): ModelMoraError {
  const where = error.type === "body" ? "body" : error.type;
  const problems = new Map<string, string>();
  for (const entry of error.all as { path?: string; message?: string; summary?: string }[]) {
    const pointer = entry.path ? entry.path.replace(/^\//, "").replace(/\//g, ".") : "";
    const field = pointer ? pointer.replace(/\.(\d+)(?=\.|$)/g, "[$1]") : where;
    if (!problems.has(field)) problems.set(field, entry.summary ?? entry.message ?? "does not match the schema");
  }
  if (problems.size === 0) problems.set(where, "does not match the schema");
  const fields = [...problems.keys()];
  const message = [...problems].map(([field, reason]) => `${field}: ${reason}`).join("; ");
  return invalidInput(message, { field: fields[0], in: where, ...(fields.length > 1 && { fields }) });
}

/**
 * A body that failed validation because it was not sent as JSON: 415, naming what was sent. JSON
 * types validate as usual (400), and so does application/octet-stream, which KServe's binary
 * tensor extension uses for its JSON header plus raw bytes.
 */
function unsupportedMediaType(error: ValidationError, request: Request): ModelMoraError | undefined {
  if (error.type !== "body") return undefined;
  const contentType = request.headers.get("content-type");
  // No body at all: a missing field (400), not a wrong type.
  if (contentType === null && request.body === null) return undefined;
  if (contentType !== null && /^application\/(([\w.+-]+\+)?json|octet-stream)\b/i.test(contentType)) return undefined;
  const sent = contentType === null ? "a body without content-type" : `content-type "${contentType}"`;
  return new ModelMoraError("UNSUPPORTED_MEDIA_TYPE", `${sent} is not supported here: send the body as application/json`, { contentType });
}
