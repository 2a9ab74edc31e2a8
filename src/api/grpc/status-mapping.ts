/**
 * The gRPC mapping of domain error codes: a status code, the message, and the domain code in
 * trailing metadata (`x-modelmora-code`), with `details` as JSON in `x-modelmora-details`.
 * Services never choose status codes; they throw ModelMoraError and this table answers.
 */
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { type ErrorCode, ModelMoraError } from "../../errors.ts";
import { redactForClient } from "../../security/redact.ts";

export const GRPC_STATUS: Record<ErrorCode, status> = {
  MODEL_NOT_FOUND: status.NOT_FOUND,
  VERSION_NOT_FOUND: status.NOT_FOUND,
  ROUTE_NOT_FOUND: status.UNIMPLEMENTED,
  JOB_NOT_FOUND: status.NOT_FOUND,
  MODEL_ALREADY_EXISTS: status.ALREADY_EXISTS,
  JOB_NOT_READY: status.FAILED_PRECONDITION,
  JOB_CANCELLED: status.FAILED_PRECONDITION,
  JOB_EXPIRED: status.NOT_FOUND,
  INVALID_INPUT: status.INVALID_ARGUMENT,
  SOURCE_UNAVAILABLE: status.INVALID_ARGUMENT,
  CHECKSUM_MISMATCH: status.INVALID_ARGUMENT,
  PAYLOAD_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  UNSUPPORTED_MEDIA_TYPE: status.INVALID_ARGUMENT,
  MODEL_LOAD_FAILED: status.FAILED_PRECONDITION,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  FORBIDDEN: status.PERMISSION_DENIED,
  QUEUE_FULL: status.RESOURCE_EXHAUSTED,
  OUTPUT_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  INFERENCE_FAILED: status.INTERNAL,
  INTERNAL: status.INTERNAL,
  UNHEALTHY_MODEL: status.UNAVAILABLE,
  INSUFFICIENT_MEMORY: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
  INFERENCE_TIMEOUT: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
};

export const CODE_METADATA_KEY = "x-modelmora-code";
export const DETAILS_METADATA_KEY = "x-modelmora-details";

/** Any thrown value as a gRPC error; unknown errors become INTERNAL without their stack. */
export function toServiceError(error: unknown): Partial<ServiceError> {
  const domain = error instanceof ModelMoraError ? redactForClient(error) : new ModelMoraError("INTERNAL", "internal error");
  const metadata = new Metadata();
  metadata.set(CODE_METADATA_KEY, domain.code);
  if (domain.details) metadata.set(DETAILS_METADATA_KEY, JSON.stringify(domain.details));
  if (domain.code === "QUEUE_FULL" || domain.code === "SHUTTING_DOWN") metadata.set("retry-after", "1");
  return { code: GRPC_STATUS[domain.code], details: domain.message, metadata };
}
