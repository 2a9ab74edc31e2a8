/**
 * Decompression bombs for tests: a tiny PNG whose header declares a huge canvas (its IHDR width and
 * height rewritten, the chunk's CRC recomputed), as an attacker would send. A decoder that trusted the
 * header would allocate width × height × channels bytes.
 */
import sharp from "sharp";

const CRC_TABLE = Array.from({ length: 256 }, (_, byte) => {
  let value = byte;
  for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  return value >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A valid 8×8 grey PNG whose header says `width` × `height`. */
export async function pngDeclaring(width: number, height: number): Promise<Uint8Array> {
  const png = new Uint8Array(await sharp({ create: { width: 8, height: 8, channels: 3, background: "#808080" } }).png().toBuffer());
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  // Signature (8 bytes), then IHDR: length (4), "IHDR" (4), width (4), height (4), 5 more bytes, CRC (4).
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(png.subarray(12, 29)));
  return png;
}
