/**
 * The KServe Open Inference Protocol v2 over REST, under `/v2`: server liveness, readiness and
 * metadata, model metadata and readiness, and inference with JSON tensors or the binary tensor
 * data extension (see binary-body.ts), so existing V2 clients (tritonclient, KServe SDKs) work
 * unchanged. Everything goes through the inference and models services; failures are
 * ModelMoraErrors that the errors plugin maps.
 */
import { Elysia, type Static, t } from "elysia";
import { invalidInput } from "../../errors.ts";
import type { ModelsService } from "../../inference/models-service.ts";
import { SERVER_METADATA } from "../../inference/server-metadata.ts";
import type { InferenceService } from "../../inference/service.ts";
import { HEADER_LENGTH_HEADER, inferResponse, inputsWithBinary, splitRequestBody } from "./binary-body.ts";
import { isServerReady, type Readiness } from "../readiness.ts";
import { errorResponseDocs, errorResponses } from "./error-responses.ts";
import { toInferenceRequest } from "./infer.ts";
import { parseJsonBytes, parseTurns } from "./parse-turns.ts";
import { TensorSpecModel } from "../../registry/schemas.ts";
import { InferResponseModel, KServeInferBody } from "./schemas.ts";

const ServerMetadataModel = t.Object({ name: t.String(), version: t.String(), extensions: t.Array(t.String()) });

const ModelMetadataModel = t.Object({
  name: t.String(),
  versions: t.Array(t.String(), { description: "the version asked about (or the active one) first" }),
  platform: t.String(),
  inputs: t.Array(TensorSpecModel),
  outputs: t.Array(TensorSpecModel),
});

const ModelReadyModel = t.Object({ name: t.String(), ready: t.Boolean() });

/**
 * Binary tails of the requests in flight on the infer routes, from the transform hook that splits
 * the body to the handler. Keyed by the Request, so an entry goes when its request does.
 */
const binaryTails = new WeakMap<Request, Uint8Array>();

/** What the parser hands on for a body that is not JSON; `transform` answers it as INVALID_INPUT naming the field. */
const INVALID_JSON = Object.freeze({ invalidJson: true });

/** The answers, documented (not checked at run time): JSON outputs, or the binary framing. */
const INFER_ANSWER_DOCS = {
  200: {
    description: "The answer: JSON, or with binary outputs an application/octet-stream body framed like the request (Inference-Header-Content-Length)",
    content: {
      "application/json": { schema: InferResponseModel as never },
      "application/octet-stream": { schema: { type: "string", format: "binary" } as never },
    },
  },
  ...errorResponseDocs("infer"),
};

const INFER_DESCRIPTION =
  "The body is the JSON inference header below, sent with any content type. With the binary tensor data extension, the " +
  "`Inference-Header-Content-Length` header gives the JSON's length in bytes and the raw bytes of each input with " +
  "`parameters.binary_data_size` follow it, in input order. Outputs asked for as binary (`parameters.binary_data_output`, " +
  "or an output's `parameters.binary_data`) come back the same way, as application/octet-stream.";

interface InferRoute {
  params: { name: string; version?: string };
  body: Static<typeof KServeInferBody>;
  headers: Record<string, string | undefined>;
  request: Request;
}

export function kservePlugin(models: ModelsService, inference: InferenceService, readiness: Readiness) {
  const turns = parseTurns(inference);
  /**
   * Hooks of the infer routes: the body is read as bytes (whatever its content type) in its turn
   * (priority order under overload), split into the JSON inference header and the binary tail
   * before validation, so the schema checks the header alone. Splitting happens in `transform`, not
   * `parse`, because Elysia rewraps anything a parser throws as a generic parse error and the field
   * at fault would be lost.
   */
  const inferHooks = {
    // A plain JSON body is parsed straight from its bytes (no intermediate string); a framed binary
    // one is read as bytes and split.
    parse: ({ request, params }: { request: Request; params: { name: string; version?: string } }) =>
      turns.read(request, params.name, params.version, (bytes) =>
        request.headers.has(HEADER_LENGTH_HEADER) ? bytes : parseJsonBytes(bytes).catch(() => INVALID_JSON),
      ),
    transform(context: { body: unknown; request: Request }) {
      if (context.body === INVALID_JSON) throw invalidInput("request body is not valid JSON", { field: "body" });
      if (!(context.body instanceof ArrayBuffer)) return;
      const { header, binary } = splitRequestBody(context.body, context.request.headers.get(HEADER_LENGTH_HEADER));
      binaryTails.set(context.request, binary);
      context.body = header;
    },
    body: KServeInferBody,
  };

  const infer = async ({ params, body, headers, request }: InferRoute) => {
    const inputs = inputsWithBinary(body.inputs, binaryTails.get(request) ?? new Uint8Array(0));
    const call = { model: params.name, version: params.version, body: { ...body, inputs }, headers, request };
    return inferResponse(await inference.inferTensors({ ...toInferenceRequest(call), turn: turns.of(request) }), body);
  };

  /**
   * Model readiness: 200 `{ name, ready: true }`, 503 `{ name, ready: false }` for a registered
   * model that is unhealthy, and 404 MODEL_NOT_FOUND / VERSION_NOT_FOUND for one that is not
   * registered, as Triton answers for a model outside its repository. The V2 spec makes readiness
   * the status code (tritonclient's `is_model_ready` checks for 200 only), so clients that only
   * test for 200 see no difference.
   */
  const modelReady = async ({ params, set }: { params: { name: string; version?: string }; set: { status?: number | string } }) => {
    await models.metadata(params.name, params.version);
    const ready = await models.isReady(params.name, params.version);
    if (!ready) set.status = 503;
    return { name: params.name, ready };
  };

  return new Elysia({ name: "kserve", prefix: "/v2", detail: { tags: ["kserve-v2"] } })
    .onAfterResponse(({ request }) => turns.end(request))
    .get("", () => SERVER_METADATA, { response: ServerMetadataModel, detail: { summary: "Server metadata: name, version, protocol extensions" } })
    .get("/health/live", () => ({ live: true }), { detail: { summary: "Server liveness: the process answers" } })
    .get(
      "/health/ready",
      async ({ set }) => {
        const ready = await isServerReady(readiness);
        if (!ready) set.status = 503;
        return { ready };
      },
      { detail: { summary: "Server readiness (200 ready, 503 not): as /health/ready, preload done, accepting, database answers" } },
    )
    .get("/models/:name", ({ params }) => models.metadata(params.name), {
      response: { 200: ModelMetadataModel, ...errorResponses("read") },
      detail: { summary: "Model metadata of the active version" },
    })
    .get("/models/:name/versions/:version", ({ params }) => models.metadata(params.name, params.version), {
      response: { 200: ModelMetadataModel, ...errorResponses("read") },
      detail: { summary: "Model metadata of one version" },
    })
    .get("/models/:name/ready", modelReady, {
      response: { 200: ModelReadyModel, ...errorResponses("read"), 503: ModelReadyModel },
      detail: { summary: "Model readiness of the active version (200 ready, 503 unhealthy, 404 unknown)" },
    })
    .get("/models/:name/versions/:version/ready", modelReady, {
      response: { 200: ModelReadyModel, ...errorResponses("read"), 503: ModelReadyModel },
      detail: { summary: "Model readiness of one version (200 ready, 503 unhealthy, 404 unknown model or version)" },
    })
    .post("/models/:name/infer", infer, {
      ...inferHooks,
      detail: { summary: "Inference on the active version", description: INFER_DESCRIPTION, responses: INFER_ANSWER_DOCS },
    })
    .post("/models/:name/versions/:version/infer", infer, {
      ...inferHooks,
      detail: { summary: "Inference on one version (it may run beside the active one)", description: INFER_DESCRIPTION, responses: INFER_ANSWER_DOCS },
    });
}

