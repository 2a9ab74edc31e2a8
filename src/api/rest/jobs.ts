/**
 * Asynchronous jobs over REST: `POST /api/v1/infer/{name}/async` (the sync route's body, any task,
 * plus an optional `callbackUrl`) answers 202 once the job's row is written; `/api/v1/jobs` lists,
 * `/api/v1/jobs/{id}` reports, `/api/v1/jobs/{id}/result` answers what the sync route would have,
 * `DELETE /api/v1/jobs/{id}` cancels. All need the infer scope (src/security/access.ts); an infer
 * key reaches only the jobs it submitted, an admin key every job.
 */
import { Elysia, t } from "elysia";
import { invalidInput } from "../../errors.ts";
import type { JobsService, JobView } from "../../inference/jobs/jobs-service.ts";
import { JOB_STATUSES, type JobRequest, type JobStatus } from "../../inference/jobs/job-types.ts";
import { parsePriority } from "../../inference/priority.ts";
import type { JsonTensor } from "../../inference/tensor-codec.ts";
import { requestPrincipal } from "./auth.ts";
import { errorResponseDocs, errorResponses } from "./error-responses.ts";
import { InferBody, InferResponseModel } from "./schemas.ts";
import { TextInferResponseModel, textInferFields, textsOf } from "./text-infer.ts";

const AsyncInferBody = t.Object({
  ...InferBody.properties,
  inputs: t.Optional(InferBody.properties.inputs),
  ...textInferFields,
  callbackUrl: t.Optional(
    t.String({
      description: "http(s) URL POSTed the finished job (host under the source policy's rules), signed with x-modelmora-signature; retried durably with backoff, at least once: deduplicate by jobId",
    }),
  ),
});

const JobErrorModel = t.Nullable(t.Object({ code: t.String(), message: t.String(), details: t.Optional(t.Record(t.String(), t.Any())) }));

export const JobViewModel = t.Object({
  jobId: t.String(),
  status: t.UnionEnum(JOB_STATUSES),
  model: t.String(),
  version: t.Nullable(t.String()),
  priority: t.Integer(),
  attempts: t.Integer(),
  maxAttempts: t.Integer(),
  createdAt: t.String(),
  updatedAt: t.String(),
  startedAt: t.Nullable(t.String()),
  finishedAt: t.Nullable(t.String()),
  error: JobErrorModel,
  resultSizeBytes: t.Nullable(t.Integer()),
  callback: t.Nullable(
    t.Object(
      {
        state: t.Nullable(t.UnionEnum(["pending", "delivered", "given_up"])),
        attempts: t.Integer(),
        nextAttemptAt: t.Nullable(t.String()),
        lastError: t.Nullable(t.String()),
      },
      { description: "The callback's delivery (jobs with a callbackUrl): null state until the job ends, then pending, delivered or given_up" },
    ),
  ),
});

const JobLinks = t.Object({ self: t.String(), result: t.String() });
const AcceptedModel = t.Object({ jobId: t.String(), status: t.Literal("queued"), links: JobLinks });

function links(jobId: string) {
  return { self: `/api/v1/jobs/${jobId}`, result: `/api/v1/jobs/${jobId}/result` };
}

export function jobsPlugin(jobs: JobsService) {
  return new Elysia({ name: "jobs", detail: { tags: ["jobs"] } })
    .post(
      "/api/v1/infer/:name/async",
      async ({ params, body, headers, query, set, request }) => {
        const parameters = body.parameters;
        const view = await jobs.submit({
          model: params.name,
          version: query.version,
          priority: parsePriority(parameters?.priority ?? headers["x-priority"], parameters?.priority !== undefined ? "parameters.priority" : "x-priority"),
          request: jobRequest(body),
          callbackUrl: body.callbackUrl,
        }, requestPrincipal(request));
        set.status = 202;
        set.headers.location = links(view.jobId).self;
        return { jobId: view.jobId, status: "queued" as const, links: links(view.jobId) };
      },
      {
        body: AsyncInferBody,
        query: t.Object({ version: t.Optional(t.String()) }),
        response: { 202: AcceptedModel, ...errorResponses("submitJob") },
        detail: { summary: "Queue an inference as a job (the sync route's body); the row is written before the 202" },
      },
    )
    .get(
      "/api/v1/jobs",
      async ({ query, request }) => {
        const status = jobStatus(query.status);
        const page = await jobs.list({ status, model: query.model, limit: query.limit, offset: query.offset }, requestPrincipal(request));
        const next = page.nextOffset === undefined ? undefined : `/api/v1/jobs?${new URLSearchParams({ ...(query.status && { status: query.status }), ...(query.model && { model: query.model }), limit: String(query.limit ?? 100), offset: String(page.nextOffset) })}`;
        return { jobs: page.jobs.map(withLinks), nextOffset: page.nextOffset ?? null, links: { next: next ?? null } };
      },
      {
        query: t.Object({
          // A string checked in the handler: an optional UnionEnum in a query would default to its first member.
          status: t.Optional(t.String({ description: JOB_STATUSES.join(" | ") })),
          model: t.Optional(t.String()),
          limit: t.Optional(t.Integer({ minimum: 1, maximum: 500 })),
          offset: t.Optional(t.Integer({ minimum: 0 })),
        }),
        response: { 200: t.Object({ jobs: t.Array(t.Object({ ...JobViewModel.properties, links: JobLinks })), nextOffset: t.Nullable(t.Integer()), links: t.Object({ next: t.Nullable(t.String()) }) }), ...errorResponses("readJob") },
        detail: { summary: "List jobs, newest first (?status=, ?model=, ?limit= up to 500, ?offset=)" },
      },
    )
    .get("/api/v1/jobs/:id", async ({ params, request }) => withLinks(await jobs.get(params.id, requestPrincipal(request))), {
      response: { 200: t.Object({ ...JobViewModel.properties, links: JobLinks }), ...errorResponses("readJob") },
      detail: { summary: "A job's status, timestamps, attempts and error" },
    })
    .get("/api/v1/jobs/:id/result", ({ params, request }) => jobs.result(params.id, requestPrincipal(request)), {
      detail: {
        summary: "The sync route's answer; 409 JOB_NOT_READY while queued or running, the job's error once it failed",
        responses: { 200: { description: "The answer", content: { "application/json": { schema: t.Union([InferResponseModel, TextInferResponseModel]) as never } } }, ...errorResponseDocs("jobResult") },
      },
    })
    .delete("/api/v1/jobs/:id", async ({ params, request }) => withLinks(await jobs.cancel(params.id, requestPrincipal(request))), {
      response: { 200: t.Object({ ...JobViewModel.properties, links: JobLinks }), ...errorResponses("readJob") },
      detail: { summary: "Cancel a queued or running job (a finished job is left as it is)" },
    });
}

function jobStatus(value: string | undefined): JobStatus | undefined {
  if (value === undefined || value === "") return undefined;
  if (!(JOB_STATUSES as readonly string[]).includes(value)) throw invalidInput(`status must be one of ${JOB_STATUSES.join(", ")}`, { field: "status" });
  return value as JobStatus;
}

function withLinks(view: JobView) {
  return { ...view, links: links(view.jobId) };
}

/** The stored form of the body: texts for a txt2embed model, else KServe JSON tensors. */
function jobRequest(body: typeof AsyncInferBody.static): JobRequest {
  const limits = {
    timeoutMicroseconds: body.parameters?.timeout_ms === undefined ? undefined : Math.round(body.parameters.timeout_ms * 1000),
    keepAliveSeconds: body.parameters?.keep_alive_seconds,
  };
  const texts = textsOf(body);
  if (texts) return { kind: "embed", texts: texts.texts, field: texts.field, normalize: body.normalize, truncate: body.truncate, dimensions: body.dimensions, ...limits };
  if (!body.inputs) throw invalidInput("inputs: required (or, for a txt2embed model, input / text / texts)", { field: "inputs" });
  return { kind: "tensor", id: body.id, inputs: body.inputs as JsonTensor[], outputs: body.outputs, ...limits };
}
