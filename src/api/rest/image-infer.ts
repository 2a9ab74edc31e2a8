/**
 * The image form of `POST /api/v1/infer/{name}` for image-task models (img2txt, img2embed,
 * img2label): `{ "image": "<base64>" }` answers that image's result at the top level,
 * `{ "images": ["<base64>", …] }` answers `{ "results": [...] }` (one per image, in order), and a raw
 * `image/png`, `image/jpeg` or `image/webp` body is one image. infer.ts routes a body here when it
 * carries images.
 */
import { t } from "elysia";
import { invalidInput } from "../../errors.ts";
import type { Turn } from "../../inference/admission-gate.ts";
import { parsePriority } from "../../inference/priority.ts";
import type { InferenceService } from "../../inference/service.ts";
import { type ImageAnswer, inferImages } from "../../inference/tasks/image-tasks.ts";

/** Content types taken as one raw image. */
export const IMAGE_CONTENT_TYPE = /^image\/(png|jpeg|webp)\b/i;

/** Fields an image body may have, beside the KServe and text ones. */
export const imageInferFields = {
  image: t.Optional(t.String({ description: "image tasks: one image, base64 (or a data: URL)" })),
  images: t.Optional(t.Array(t.String(), { description: "image tasks: several images, base64; answered as results, in order" })),
  top_k: t.Optional(t.Integer({ minimum: 1, maximum: 1000, description: "img2label: labels per image (default 5)" })),
};

const Corner = t.Tuple([t.Integer(), t.Integer()]);
const ImageResult = {
  text: t.Optional(t.String({ description: "img2txt: the line's text, or a page's lines: side by side on one row joined by a space, rows by newlines" })),
  confidence: t.Optional(t.Number({ description: "img2txt without a detector: mean character probability" })),
  lines: t.Optional(t.Array(t.Object({ text: t.String(), confidence: t.Number(), box: t.Array(Corner, { description: "corners, clockwise from the top left" }) }))),
  embedding: t.Optional(t.Array(t.Number(), { description: "img2embed" })),
  dimensions: t.Optional(t.Integer()),
  labels: t.Optional(t.Array(t.Object({ label: t.String(), score: t.Number() }), { description: "img2label: top_k, best first" })),
};

/** The answer to an image body: one image's result at the top level, or `results` for `images`. */
export const ImageInferResponseModel = t.Object({
  model_name: t.String(),
  model_version: t.String(),
  ...ImageResult,
  results: t.Optional(t.Array(t.Object(ImageResult))),
});

const rawImages = new WeakMap<Request, Uint8Array>();

/** Keeps a raw image body's bytes for the handler; the parsed body is empty. */
export function readRawImage(request: Request, bytes: ArrayBuffer): Record<string, never> {
  rawImages.set(request, new Uint8Array(bytes));
  return {};
}

interface ImageBody {
  image?: string;
  top_k?: number;
  normalize?: boolean;
  images?: string[];
  inputs?: unknown;
  input?: unknown;
  text?: unknown;
  texts?: unknown;
  parameters?: { priority?: number | string; timeout_ms?: number; keep_alive_seconds?: number };
}

/** The images of a request (raw body, `image` or `images`), whether it sent one or several; undefined when it sent none. */
export function imagesOf(body: ImageBody, request: Request): { images: Uint8Array[]; field: string; several: boolean } | undefined {
  const raw = rawImages.get(request);
  if (raw) return { images: [raw], field: "body", several: false };
  const given = (["image", "images"] as const).filter((key) => body[key] !== undefined);
  if (given.length === 0) return undefined;
  const others = (["inputs", "input", "text", "texts"] as const).filter((key) => body[key] !== undefined);
  if (given.length > 1 || others.length > 0) {
    const fields = [...given, ...others];
    throw invalidInput(`send one of image, images, input, text, texts or inputs, not ${fields.join(" and ")}`, { field: fields[1]! });
  }
  if (body.image !== undefined) return { images: [fromBase64(body.image, "image")], field: "image", several: false };
  return { images: body.images!.map((value, index) => fromBase64(value, `images[${index}]`)), field: "images", several: true };
}

function fromBase64(value: string, field: string): Uint8Array {
  const payload = value.startsWith("data:") ? value.slice(value.indexOf(",") + 1) : value;
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(payload.replace(/\s+/g, ""))) throw invalidInput(`${field}: not base64`, { field });
  return new Uint8Array(Buffer.from(payload, "base64"));
}

/** Runs an image body and shapes the answer. */
export async function inferImageBody(
  inference: InferenceService,
  call: { model: string; version: string | undefined; body: ImageBody; images: NonNullable<ReturnType<typeof imagesOf>>; headers: Record<string, string | undefined>; request: Request; turn?: Turn },
) {
  const { parameters } = call.body;
  const result = await inferImages(inference, {
    model: call.model,
    version: call.version,
    images: call.images.images,
    field: call.images.field,
    topK: call.body.top_k,
    normalize: call.body.normalize,
    priority: parsePriority(parameters?.priority ?? call.headers["x-priority"], parameters?.priority !== undefined ? "parameters.priority" : "x-priority"),
    timeoutMicroseconds: parameters?.timeout_ms === undefined ? undefined : Math.round(parameters.timeout_ms * 1000),
    keepAliveSeconds: parameters?.keep_alive_seconds,
    signal: call.request.signal,
    turn: call.turn,
  });
  const results = perImage(result.answer);
  const head = { model_name: result.model, model_version: result.version };
  return call.images.several ? { ...head, results } : { ...head, ...results[0]! };
}

/** One JSON result per image: OCR `{ text, confidence }` or `{ text, lines }`, `{ embedding, dimensions }`, `{ labels }`. */
function perImage(answer: ImageAnswer): object[] {
  if (answer.task === "img2txt") return answer.readings;
  if (answer.task === "img2embed") return answer.embeddings.map((vector) => ({ embedding: Array.from(vector), dimensions: vector.length }));
  return answer.labels.map((labels) => ({ labels }));
}
