/**
 * The images of an image-task batch, decoded: per item its RGB images, or (when one of them cannot be
 * used) the item's `error` answer, so one bad image refuses its own request and not the batch.
 */
import type { ImageTaskSettings, WireTensor } from "../protocol.ts";
import { decodeImage, type RgbImage } from "./images.ts";

export interface ImageItem {
  settings: ImageTaskSettings;
  /** The encoded image files, in request order. */
  images: Uint8Array[];
}

/** An item answered with one error message. */
export function errorAnswer(message: string): WireTensor[] {
  return [{ name: "error", datatype: "BYTES", shape: [1], data: [message] }];
}

/** Decodes every image; `answers[i]` is set (an error) where item i is refused, `decoded[i]` otherwise. */
export async function decodeItems(items: ImageItem[]): Promise<{ answers: (WireTensor[] | undefined)[]; decoded: (RgbImage[] | undefined)[] }> {
  const answers: (WireTensor[] | undefined)[] = [];
  const decoded: (RgbImage[] | undefined)[] = [];
  for (const [index, item] of items.entries()) {
    const images = await Promise.all(item.images.map((bytes) => decodeImage(bytes, item.settings.maxImagePixels)));
    const refused = images.findIndex((image) => typeof image === "string");
    if (refused >= 0) answers[index] = errorAnswer(`[${refused}] ${images[refused] as string}`);
    else decoded[index] = images as RgbImage[];
  }
  return { answers, decoded };
}
