/**
 * The one domain error type. Every layer throws `ModelMoraError`; each transport maps its `code`
 * once (REST: src/api/rest/error-mapping.ts). Messages are for humans and never carry stack traces.
 *
 * @example
 * throw new ModelMoraError("MODEL_NOT_FOUND", `model "${name}" is not registered`, { name });
 */
export const ERROR_CODES = [
  "MODEL_NOT_FOUND",
  "MODEL_ALREADY_EXISTS",
  "VERSION_NOT_FOUND",
  "INVALID_INPUT",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "ROUTE_NOT_FOUND",
  "MODEL_LOAD_FAILED",
  "UNHEALTHY_MODEL",
  "INSUFFICIENT_MEMORY",
  "INFERENCE_FAILED",
  "INFERENCE_TIMEOUT",
  "CANCELLED",
  "QUEUE_FULL",
  "OUTPUT_TOO_LARGE",
  "JOB_NOT_FOUND",
  "JOB_NOT_READY",
  "JOB_CANCELLED",
  "JOB_EXPIRED",
  "CHECKSUM_MISMATCH",
  "SOURCE_UNAVAILABLE",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "SHUTTING_DOWN",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorDetails = Record<string, unknown>;

export class ModelMoraError extends Error {
  override readonly name = "ModelMoraError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetails,
  ) {
    super(message);
  }
}

/** Shorthand for the most common failure: a request that does not fit the contract. */
export function invalidInput(message: string, details?: ErrorDetails): ModelMoraError {
  return new ModelMoraError("INVALID_INPUT", message, details);
}
