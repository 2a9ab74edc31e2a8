/**
 * Image decoding in the worker, with sharp (libvips): PNG, JPEG and WebP only, and no more pixels than
 * the request's limit. The header is read first, so a decompression bomb (a small file declaring a huge
 * canvas) is refused before any pixel is decoded; libvips' own `limitInputPixels` guards the decode too.
 * A bad image is an answer (a message for the caller), not a thrown error: one bad image refuses its
 * own request, not the batch it rode in.
 */
import sharp from "sharp";

/** Formats accepted; others (SVG, TIFF, GIF …) are refused as unsupported. */
export const IMAGE_FORMATS = ["png", "jpeg", "webp"] as const;

/** Interleaved 8-bit RGB pixels, row by row. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** The image as RGB (transparency flattened onto white), or why it cannot be used. */
export async function decodeImage(bytes: Uint8Array, maxPixels: number): Promise<RgbImage | string> {
  let metadata: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
  try {
    // Header only: no pixels are decoded, so no limit is needed to read how many there would be.
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    return "is not a readable image (send PNG, JPEG or WebP)";
  }
  if (!(IMAGE_FORMATS as readonly string[]).includes(metadata.format ?? "")) {
    return `has format ${metadata.format ?? "unknown"}; send PNG, JPEG or WebP`;
  }
  const width = metadata.autoOrient?.width ?? metadata.width ?? 0;
  const height = metadata.autoOrient?.height ?? metadata.height ?? 0;
  if (width * height > maxPixels) return `is ${width}×${height} pixels, more than the limit of ${maxPixels}`;
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: "error" })
      .autoOrient()
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) return `decodes to ${info.channels} channels, not RGB`;
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (error) {
    return `could not be decoded (${error instanceof Error ? error.message : String(error)})`;
  }
}

/** `image` resized to exactly `width` × `height` (bilinear, as OpenCV's default), RGB. */
export async function resized(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: "fill", kernel: "linear" })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}

/** The rectangle [left, top, width, height] of `image`, RGB. */
export function cropped(image: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const start = ((top + row) * image.width + left) * 3;
    data.set(image.data.subarray(start, start + width * 3), row * width * 3);
  }
  return { data, width, height };
}
