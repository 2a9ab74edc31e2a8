/**
 * The OpenAI dialect of the REST error mapping, for the OpenAI-compatible routes: the same status
 * per domain code as error-mapping.ts, with OpenAI's body `{ error: { message, type, param, code } }`
 * so its SDKs raise their usual exceptions. `code` is the domain code in lower case
 * (`model_not_found`, as OpenAI itself says it).
 */
import { ModelMoraError } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import { HTTP_STATUS } from "./error-mapping.ts";
import { inDialect } from "./dialect-errors.ts";

const TYPE_BY_STATUS: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "invalid_request_error",
  409: "invalid_request_error",
  413: "invalid_request_error",
  422: "invalid_request_error",
  429: "rate_limit_error",
};

export function openAiErrorResponse(error: ModelMoraError): Response {
  const status = HTTP_STATUS[error.code];
  const field = error.details?.field;
  const body = {
    error: {
      message: error.message,
      type: TYPE_BY_STATUS[status] ?? "server_error",
      param: typeof field === "string" ? field : null,
      code: error.code.toLowerCase(),
    },
  };
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (error.code === "QUEUE_FULL" || error.code === "SHUTTING_DOWN") headers["retry-after"] = "1";
  return new Response(JSON.stringify(body), { status, headers });
}

/**
 * Runs an OpenAI route's work and answers any failure in OpenAI's shape. The routes parse their own
 * bodies (see openai.ts), so Elysia's validation never answers for them in the KServe shape.
 */
export function inOpenAiDialect(logger: Logger, request: Request, work: () => Promise<unknown>): Promise<unknown> {
  return inDialect(openAiErrorResponse, logger, request, work);
}
