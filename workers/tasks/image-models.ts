/**
 * img2embed and img2label in the worker, for a whole batch: every image decoded (sharp), resized and
 * normalised as its preprocessor_config.json says (Hugging Face image processors: `size` as
 * height × width, or `shortest_edge` then a centre crop to `crop_size`; `rescale_factor`;
 * `image_mean` / `image_std`), in RGB, stacked into one NCHW batch and run once.
 * img2embed answers `embeddings` (output `image_embeds`, else `pooler_output`, else the first; a
 * [batch, tokens, dim] output gives its first token). img2label answers each image's top-k labels
 * (config.json `id2label`) with their softmax scores (output `logits`, else the first).
 */
import * as ort from "onnxruntime-node";
import type { ImageTaskSettings, TensorSpec, WireTensor } from "../protocol.ts";
import { readCompanion, memoized } from "./companion.ts";
import { decodeItems, type ImageItem } from "./image-items.ts";
import { cropped, type RgbImage, resized } from "./images.ts";

/** Labels answered per image when a request does not say. */
export const DEFAULT_TOP_K = 5;

interface Preprocessor {
  size: { height: number; width: number } | { shortestEdge: number };
  crop: { height: number; width: number } | undefined;
  rescale: number;
  mean: number[];
  std: number[];
}

interface ImageModel {
  preprocessor: Preprocessor;
  labels: string[] | undefined;
}

const imageModels = memoized(async (key) => readImageModel(JSON.parse(key) as ImageTaskSettings["files"]));

async function readJson(files: ImageTaskSettings["files"], name: string): Promise<Record<string, any> | undefined> {
  const file = files[name];
  return file ? (JSON.parse(new TextDecoder().decode(await readCompanion(name, file))) as Record<string, any>) : undefined;
}

function dimensions(value: unknown): { height: number; width: number } | undefined {
  if (typeof value === "number") return { height: value, width: value };
  if (value && typeof value === "object" && "height" in value && "width" in value) return value as { height: number; width: number };
  return undefined;
}

async function readImageModel(files: ImageTaskSettings["files"]): Promise<ImageModel> {
  const config = (await readJson(files, "preprocessor_config.json")) ?? {};
  const size = config.size as Record<string, number> | number | undefined;
  const exact = dimensions(size);
  const shortestEdge = typeof size === "object" ? size.shortest_edge : undefined;
  const preprocessor: Preprocessor = {
    size: config.do_resize === false ? { height: 0, width: 0 } : shortestEdge ? { shortestEdge } : (exact ?? { height: 224, width: 224 }),
    crop: config.do_center_crop ? dimensions(config.crop_size) : undefined,
    rescale: config.do_rescale === false ? 1 : (config.rescale_factor ?? 1 / 255),
    mean: config.do_normalize === false ? [0, 0, 0] : (config.image_mean ?? [0.5, 0.5, 0.5]),
    std: config.do_normalize === false ? [1, 1, 1] : (config.image_std ?? [0.5, 0.5, 0.5]),
  };
  const id2label = (await readJson(files, "config.json"))?.id2label as Record<string, string> | undefined;
  const labels = id2label && Object.keys(id2label).length > 0 ? Array.from({ length: Object.keys(id2label).length }, (_, id) => id2label[String(id)] ?? `LABEL_${id}`) : undefined;
  return { preprocessor, labels };
}

/** The image at the model's input size (resize, then centre crop), as the preprocessor says. */
async function preprocessed(image: RgbImage, preprocessor: Preprocessor, input: { height: number; width: number } | undefined): Promise<RgbImage> {
  let out = image;
  const size = preprocessor.size;
  if ("shortestEdge" in size) {
    const scale = size.shortestEdge / Math.min(image.width, image.height);
    out = await resized(image, Math.max(1, Math.round(image.width * scale)), Math.max(1, Math.round(image.height * scale)));
  } else if (size.height > 0) {
    out = await resized(image, size.width, size.height);
  }
  const crop = preprocessor.crop ?? ("shortestEdge" in size ? input : undefined);
  if (crop && (out.width > crop.width || out.height > crop.height)) {
    const width = Math.min(crop.width, out.width), height = Math.min(crop.height, out.height);
    out = cropped(out, Math.floor((out.width - width) / 2), Math.floor((out.height - height) / 2), width, height);
  }
  return out;
}

/** Runs one img2embed or img2label batch; answers one list of tensors per item, in order. */
export async function runImageModel(session: ort.InferenceSession, inputs: TensorSpec[], items: ImageItem[]): Promise<WireTensor[][]> {
  const settings = items[0]!.settings;
  const model = await imageModels(JSON.stringify(settings.files));
  const input = inputs.find((spec) => spec.name === "pixel_values") ?? inputs[0]!;
  const fixed = input.shape[2]! > 0 && input.shape[3]! > 0 ? { height: input.shape[2]!, width: input.shape[3]! } : undefined;
  const { answers, decoded } = await decodeItems(items);
  const images = await Promise.all(decoded.flatMap((list) => list ?? []).map((image) => preprocessed(image, model.preprocessor, fixed)));
  if (images.length === 0) return answers.map((answer) => answer!);
  const { width, height } = images[0]!;
  if (images.some((image) => image.width !== width || image.height !== height)) {
    throw new Error("images of one batch differ in size after preprocessing; give preprocessor_config.json a fixed size or crop_size");
  }
  const plane = width * height;
  const pixels = new Float32Array(images.length * 3 * plane);
  const { rescale, mean, std } = model.preprocessor;
  images.forEach((image, index) => {
    for (let at = 0; at < plane; at++) {
      for (let channel = 0; channel < 3; channel++) {
        pixels[(index * 3 + channel) * plane + at] = (image.data[at * 3 + channel]! * rescale - mean[channel]!) / std[channel]!;
      }
    }
  });
  const feed = new ort.Tensor("float32", pixels, [images.length, 3, height, width]);
  const wanted = settings.task === "img2embed" ? ["image_embeds", "pooler_output"] : ["logits"];
  const outputName = wanted.find((name) => session.outputNames.includes(name)) ?? session.outputNames[0]!;
  const results = await session.run({ [input.name]: feed }, [outputName]);
  feed.dispose();
  const output = results[outputName]!;
  const rows = rowsOf(output);
  output.dispose();
  let next = 0;
  return items.map((item, index) => {
    if (answers[index]) return answers[index]!;
    const mine = rows.slice(next, next + item.images.length);
    next += item.images.length;
    if (settings.task === "img2embed") {
      const dimensionsOut = mine[0]!.length;
      const data = new Float32Array(mine.length * dimensionsOut);
      mine.forEach((row, rowIndex) => data.set(row, rowIndex * dimensionsOut));
      return [{ name: "embeddings", datatype: "FP32", shape: [mine.length, dimensionsOut], data }];
    }
    return topLabels(mine, model.labels, item.settings.topK ?? DEFAULT_TOP_K);
  });
}

/** One vector per image: rank 2 as is, rank 3 its first token. */
function rowsOf(output: ort.Tensor): Float32Array[] {
  const data = output.data as Float32Array;
  const [count, ...rest] = output.dims as number[];
  const stride = rest.reduce((product, dimension) => product * dimension, 1);
  const width = rest.at(-1)!;
  return Array.from({ length: count! }, (_, row) => data.slice(row * stride, row * stride + width));
}

function topLabels(rows: Float32Array[], labels: string[] | undefined, topK: number): WireTensor[] {
  const k = Math.min(topK, rows[0]!.length);
  const names: string[] = [];
  const scores = new Float32Array(rows.length * k);
  rows.forEach((logits, row) => {
    const largest = Math.max(...logits);
    const exponentials = Array.from(logits, (value) => Math.exp(value - largest));
    const sum = exponentials.reduce((total, value) => total + value, 0);
    const ranked = exponentials.map((value, id) => ({ id, score: value / sum })).sort((a, b) => b.score - a.score).slice(0, k);
    ranked.forEach(({ id, score }, rank) => {
      names.push(labels?.[id] ?? `LABEL_${id}`);
      scores[row * k + rank] = score;
    });
  });
  return [
    { name: "labels", datatype: "BYTES", shape: [rows.length, k], data: names },
    { name: "scores", datatype: "FP32", shape: [rows.length, k], data: scores },
  ];
}
