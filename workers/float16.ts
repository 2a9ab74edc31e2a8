/**
 * onnxruntime-common chooses its float16 array type once, when it builds its first Tensor:
 * Float16Array if the runtime has one (Bun does), else Uint16Array. onnxruntime-node's native
 * binding reads only Uint16Array half bits, so with Float16Array chosen, float16 inputs fail ("not
 * enough space") and outputs arrive as Float16Array instead of the wire format's Uint16Array.
 * Building that first tensor while Float16Array is hidden fixes the choice to Uint16Array.
 * Call once, before any other Tensor is made.
 */
import * as ort from "onnxruntime-node";

export function pinFloat16ToHalfBits(): void {
  const globals = globalThis as { Float16Array?: unknown };
  const saved = globals.Float16Array;
  globals.Float16Array = undefined;
  try {
    new ort.Tensor("float16", new Uint16Array(1), [1]);
  } finally {
    globals.Float16Array = saved;
  }
}
