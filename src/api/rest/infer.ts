/** `POST /api/v1/infer/{name}`: synchronous inference with KServe-v2-style JSON tensors. */
import { Elysia } from "elysia";
import { parsePriority } from "../../inference/priority.ts";
import type { InferenceService } from "../../inference/service.ts";
import { ErrorModel, InferBody } from "./schemas.ts";

export function inferPlugin(inference: InferenceService) {
  return new Elysia({ name: "infer", prefix: "/api/v1/infer", detail: { tags: ["inference"] } }).post(
    "/:name",
    ({ params, body, headers, query, request }) =>
      inference.infer({
        model: params.name,
        version: query.version,
        id: body.id,
        inputs: body.inputs,
        outputs: body.outputs,
        priority: parsePriority(body.parameters?.priority ?? headers["x-priority"], body.parameters?.priority !== undefined ? "parameters.priority" : "x-priority"),
        timeoutMicroseconds: body.parameters?.timeout_ms === undefined ? undefined : Math.round(body.parameters.timeout_ms * 1000),
        signal: request.signal,
      }),
    {
      body: InferBody,
      response: { 400: ErrorModel, 404: ErrorModel, 429: ErrorModel, 500: ErrorModel, 503: ErrorModel, 504: ErrorModel },
      detail: { summary: "Run inference (priority from parameters.priority or the x-priority header)" },
    },
  );
}
