/**
 * Synchronous inference with KServe-v2 JSON tensors on ModelMora's own path:
 * `POST /api/v1/infer/{name}` (version as a query parameter). The KServe paths
 * (`/v2/models/{name}[/versions/{version}]/infer`) live in kserve.ts and share the mapping below.
 */
import { Elysia, type Static, t } from "elysia";
import { invalidInput } from "../../errors.ts";
import type { InferenceRequest, InferenceService } from "../../inference/service.ts";
import type { InputTensor } from "../../inference/tensor-codec.ts";
import { parseJsonBytes, parseTurns } from "./parse-turns.ts";
import { requestControls } from "./request-controls.ts";
import { errorResponseDocs } from "./error-responses.ts";
import { InferBody, InferResponseModel } from "./schemas.ts";
import { inferText, TextInferResponseModel, textInferFields, textsOf } from "./text-infer.ts";
import { IMAGE_CONTENT_TYPE, ImageInferResponseModel, imageInferFields, imagesOf, inferImageBody, readRawImage } from "./image-infer.ts";

/** A KServe body, or for txt2embed models a text body (text-infer.ts); `inputs` is checked in the handler. */
const InferOrTextBody = t.Object({ ...InferBody.properties, inputs: t.Optional(InferBody.properties.inputs), ...textInferFields, ...imageInferFields });

export interface InferCall {
  model: string;
  version: string | undefined;
  /** The request body; its inputs are already tensors the codec takes (JSON data or raw bytes). */
  body: { id?: string; inputs: InputTensor[]; outputs?: { name: string }[]; parameters?: Static<typeof InferBody>["parameters"] };
  headers: Record<string, string | undefined>;
  request: Request;
}

/** One mapping from an HTTP call to the service's request, whichever path it came in on. */
export function toInferenceRequest({ model, version, body, headers, request }: InferCall): InferenceRequest {
  return { model, version, id: body.id, inputs: body.inputs, outputs: body.outputs, ...requestControls(body.parameters, headers, request) };
}

export function inferPlugin(inference: InferenceService) {
  const turns = parseTurns(inference);
  return new Elysia({ name: "infer", detail: { tags: ["inference"] } }).onAfterResponse(({ request }) => turns.end(request)).post(
    "/api/v1/infer/:name",
    ({ params, body, headers, query, request }) => {
      const images = imagesOf(body, request);
      if (images) return inferImageBody(inference, { model: params.name, version: query.version, body, images, headers, request, turn: turns.of(request) });
      const texts = textsOf(body);
      if (texts) return inferText(inference, { model: params.name, version: query.version, body, texts, headers, request, turn: turns.of(request) });
      const { inputs } = body;
      if (!inputs) throw invalidInput("inputs: required (or, for a txt2embed model, input / text / texts; for an image model, image / images)", { field: "inputs" });
      return inference.infer({ ...toInferenceRequest({ model: params.name, version: query.version, body: { ...body, inputs }, headers, request }), turn: turns.of(request) });
    },
    {
      // Under overload, bodies are parsed in priority order (x-priority), not arrival order.
      parse: ({ request, params }, contentType) => {
        const image = IMAGE_CONTENT_TYPE.test(contentType);
        if (!contentType.includes("json") && !image) return undefined; // Elysia's own parsers, then its 415/400
        const version = new URL(request.url).searchParams.get("version") ?? undefined;
        return turns.read(request, params.name, version, (bytes) => (image ? readRawImage(request, bytes) : parseJsonBytes(bytes)));
      },
      body: InferOrTextBody,
      query: t.Object({ version: t.Optional(t.String({ description: "a registered version; the active one when absent" })) }),
      // The answer's schema is documented, not enforced: Elysia would check every answer against it
      // (about a quarter of a millisecond per request, more for large outputs).
      detail: {
        summary: "Run inference: KServe tensors, text (txt2embed) or images (base64 image/images, or a raw image/png|jpeg|webp body) (priority from parameters.priority or the x-priority header; ?version= picks a version)",
        responses: {
          200: { description: "The answer", content: { "application/json": { schema: t.Union([InferResponseModel, TextInferResponseModel, ImageInferResponseModel]) as never } } },
          ...errorResponseDocs("infer"),
        },
      },
    },
  );
}

