/** Raw little-endian FP32 bytes ↔ values, for the load clients' binary transports. */

/** Values as FP32 bytes. */
export function float32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** FP32 bytes as values; copies, since the bytes may not be 4-byte aligned inside their buffer. */
export function float32Values(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}
