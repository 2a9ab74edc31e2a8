/**
 * A route's documented error answers (OpenAPI `responses`), derived from the codes its operation
 * can raise (src/inference/operation-errors.ts) through the REST status table (error-mapping.ts):
 * one status per code, each answered with the error body.
 *
 * Routes whose answer is documented in `detail.responses` (which replaces the generated list) add
 * `errorResponseDocs` there.
 *
 * @example
 * .post("/api/v1/models/:name/load", handler, { response: errorResponses("load") })
 */
import { OPERATION_ERRORS, type Operation } from "../../inference/operation-errors.ts";
import { HTTP_STATUS } from "./error-mapping.ts";
import { ErrorModel } from "./schemas.ts";

/** Every status an error answer may have (the values of HTTP_STATUS). */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 422 | 429 | 499 | 500 | 503 | 504;

/** The statuses an operation's codes map to. */
type StatusesOf<Op extends Operation> = (typeof HTTP_STATUS)[(typeof OPERATION_ERRORS)[Op][number]];

export function errorResponses<Op extends Operation>(operation: Op): Record<StatusesOf<Op>, typeof ErrorModel> {
  return Object.fromEntries(OPERATION_ERRORS[operation].map((code) => [HTTP_STATUS[code], ErrorModel])) as Record<StatusesOf<Op>, typeof ErrorModel>;
}

/** The same statuses as OpenAPI response objects, each describing the codes that answer with it. */
export function errorResponseDocs(operation: Operation): Record<number, { description: string; content: { "application/json": { schema: never } } }> {
  const codesByStatus = new Map<number, string[]>();
  for (const code of OPERATION_ERRORS[operation]) codesByStatus.set(HTTP_STATUS[code], [...(codesByStatus.get(HTTP_STATUS[code]) ?? []), code]);
  return Object.fromEntries(
    [...codesByStatus].map(([status, codes]) => [status, { description: codes.join(", "), content: { "application/json": { schema: ErrorModel as never } } }]),
  );
}
