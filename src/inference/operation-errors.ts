/**
 * The domain codes (the one table in src/errors.ts) each kind of operation can end with, whatever
 * the transport. Transports derive their documented error answers from these lists — REST's
 * OpenAPI `responses` through its status table (src/api/rest/error-responses.ts) — instead of
 * keeping lists of statuses by hand. tests/integration/rest-error-docs.test.ts provokes the errors
 * of each route and checks that every one is listed.
 */
import type { ErrorCode } from "../errors.ts";

/** What any request can end with: refused by authentication or scope, or a bug. */
const EVERY_REQUEST = ["UNAUTHENTICATED", "FORBIDDEN", "INTERNAL"] as const satisfies readonly ErrorCode[];
/** A request with path, query or body fields: one is malformed. */
const WITH_FIELDS = [...EVERY_REQUEST, "INVALID_INPUT"] as const satisfies readonly ErrorCode[];
/** A request with a body: too large, or not JSON. */
const WITH_BODY = [...WITH_FIELDS, "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"] as const satisfies readonly ErrorCode[];
const FINDS_MODEL = ["MODEL_NOT_FOUND", "VERSION_NOT_FOUND"] as const satisfies readonly ErrorCode[];
/** Starting a model's workers: the file does not load, the model is marked unhealthy, or no memory is left. */
const LOADS_MODEL = [...FINDS_MODEL, "MODEL_LOAD_FAILED", "UNHEALTHY_MODEL", "INSUFFICIENT_MEMORY", "SHUTTING_DOWN"] as const satisfies readonly ErrorCode[];

export const OPERATION_ERRORS = {
  /** Reading the catalogue: one model, its metadata or readiness. */
  read: [...WITH_FIELDS, ...FINDS_MODEL],
  /** Registering a model version: copy or download, verify, read the signature, store. */
  register: [...WITH_BODY, "MODEL_ALREADY_EXISTS", "QUEUE_FULL", "SOURCE_UNAVAILABLE", "CHECKSUM_MISMATCH", "MODEL_LOAD_FAILED"],
  /** Changing a registered model: its config, its active version, or deleting it. */
  change: [...WITH_BODY, ...FINDS_MODEL],
  /** Loading a model's workers now. */
  load: [...WITH_FIELDS, ...LOADS_MODEL],
  /** Stopping a model's workers. */
  unload: [...WITH_FIELDS, ...FINDS_MODEL],
  /** Inference: every step from the queue to the worker's answer. */
  infer: [...WITH_BODY, ...LOADS_MODEL, "QUEUE_FULL", "OUTPUT_TOO_LARGE", "INFERENCE_FAILED", "INFERENCE_TIMEOUT", "CANCELLED"],
  /** Text generation (txt2txt): as inference, answered whole or streamed. */
  generate: [...WITH_BODY, ...LOADS_MODEL, "QUEUE_FULL", "INFERENCE_FAILED", "INFERENCE_TIMEOUT", "CANCELLED"],
  /** Queueing an inference as a job: the model must exist; the row is written before the answer. */
  submitJob: [...WITH_BODY, ...FINDS_MODEL],
  /** Reading, listing or cancelling jobs. */
  readJob: [...WITH_FIELDS, "JOB_NOT_FOUND"],
  /** A job's answer: not ready, cancelled, expired, or the error its inference ended with. */
  jobResult: [...WITH_BODY, ...LOADS_MODEL, "QUEUE_FULL", "OUTPUT_TOO_LARGE", "INFERENCE_FAILED", "INFERENCE_TIMEOUT", "CANCELLED", "JOB_NOT_FOUND", "JOB_NOT_READY", "JOB_CANCELLED", "JOB_EXPIRED"],
} as const satisfies Record<string, readonly ErrorCode[]>;

export type Operation = keyof typeof OPERATION_ERRORS;
