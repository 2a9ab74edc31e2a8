/**
 * The REST mapping of domain error codes: HTTP status and the body
 * `{ error, code, details? }` (the `error` key keeps KServe v2 clients working).
 * Handlers never choose status codes; they throw ModelMoraError and this table answers.
 */
import type { ErrorCode, ModelMoraError } from "../../errors.ts";
import { redactForClient } from "../../security/redact.ts";
import type { ErrorStatus } from "./error-responses.ts";

export const HTTP_STATUS = {
  MODEL_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  MODEL_ALREADY_EXISTS: 409,
  JOB_NOT_READY: 409,
  /** The result of a job that was cancelled. */
  JOB_CANCELLED: 409,
  /** The result of a job swept after MODELMORA_JOB_RESULT_TTL_SECONDS. */
  JOB_EXPIRED: 410,
  INVALID_INPUT: 400,
  SOURCE_UNAVAILABLE: 400,
  CHECKSUM_MISMATCH: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  MODEL_LOAD_FAILED: 422,
  /** The request was fine; its answer is over MODELMORA_MAX_OUTPUT_MB. */
  OUTPUT_TOO_LARGE: 422,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  QUEUE_FULL: 429,
  INFERENCE_FAILED: 500,
  INTERNAL: 500,
  UNHEALTHY_MODEL: 503,
  INSUFFICIENT_MEMORY: 503,
  SHUTTING_DOWN: 503,
  INFERENCE_TIMEOUT: 504,
  /** nginx's "client closed request": nobody reads it, but logs and metrics do. */
  CANCELLED: 499,
} as const satisfies Record<ErrorCode, ErrorStatus>;

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  details?: Record<string, unknown>;
}

export function errorResponse(raw: ModelMoraError): Response {
  const error = redactForClient(raw);
  const body: ErrorBody = { error: error.message, code: error.code, ...(error.details && { details: error.details }) };
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (error.code === "QUEUE_FULL" || error.code === "SHUTTING_DOWN") headers["retry-after"] = "1";
  return new Response(JSON.stringify(body), { status: HTTP_STATUS[error.code], headers });
}
