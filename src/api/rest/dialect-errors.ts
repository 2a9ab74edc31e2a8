/**
 * Routes that answer errors in another API's shape (OpenAI, TEI) run their work through
 * `inDialect`: a domain error becomes that API's error answer, anything else is a bug, logged with
 * its stack and answered as INTERNAL in the same shape.
 */
import { ModelMoraError } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";

export async function inDialect(toResponse: (error: ModelMoraError) => Response, logger: Logger, request: Request, work: () => Promise<unknown>): Promise<unknown> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ModelMoraError) return toResponse(error);
    logger.error({ event: "unhandled_error", err: error, method: request.method, url: request.url }, "unhandled error");
    return toResponse(new ModelMoraError("INTERNAL", "internal server error"));
  }
}
