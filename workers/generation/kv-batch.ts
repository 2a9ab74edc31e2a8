/**
 * The KV cache of the sequences decoding together, laid out as the model takes it: for each cache
 * input (`past_key_values.{i}.key/value`) one array [rows, heads, width, headDim] (float32, or
 * float16 for fp16 exports — the elements are only moved, never read, so both lay out alike), where
 * `width` is the longest sequence's cached length and every shorter row is **left-padded** with
 * zeros. The attention mask row of a sequence is 0 over its padding and 1 over its tokens, so the
 * padding receives exactly zero attention weight (softmax of −∞-like scores) and changes nothing.
 *
 * Between joins and leaves the batch is never copied: a step's `present` outputs
 * [rows, heads, width + 1, headDim] are the next step's past as they are (every row grew by one, so
 * the padding stays on the left). When a sequence joins (after its prefill, alone) or leaves, the
 * batch is **re-packed**: each staying row's own tokens are cut out, and all rows are laid out again
 * at the new longest length. Re-packing costs one copy of the live cache; it happens only at a
 * membership change, not at every step.
 */

/**
 * A cache tensor's elements: float32, or float16 as raw half bits (Uint16Array: the worker pins
 * onnxruntime to them, workers/float16.ts).
 */
export type CacheArray = Float32Array | Uint16Array;
export type CacheElementType = "float32" | "float16";

/** A zero-filled array of `length` elements of the same kind as `source` (never converting values). */
function arrayLike(source: CacheArray, length: number): CacheArray {
  return source instanceof Float32Array ? new Float32Array(length) : new Uint16Array(length);
}

/** An empty cache tensor's data (the first step's past) for `elementType`. */
export function emptyCacheArray(elementType: CacheElementType): CacheArray {
  return elementType === "float32" ? new Float32Array(0) : new Uint16Array(0);
}

/** One sequence's cache alone: per cache input, [heads, length, headDim]. */
export interface SequenceCache {
  length: number;
  tensors: CacheArray[];
}

export interface CacheGeometry {
  /** Cache inputs in the order the batch keeps them. */
  names: string[];
  heads: number;
  headDimension: number;
  elementType: CacheElementType;
}

export class KvBatch {
  private constructor(
    readonly geometry: CacheGeometry,
    /** Cached tokens per row (the real ones; the rest of `width` is left padding). */
    readonly lengths: number[],
    public width: number,
    public tensors: CacheArray[],
  ) {}

  get rows(): number {
    return this.lengths.length;
  }

  /** Lays `caches` out as a fresh left-padded batch. */
  static pack(geometry: CacheGeometry, caches: SequenceCache[]): KvBatch {
    const { heads, headDimension } = geometry;
    const width = Math.max(0, ...caches.map((cache) => cache.length));
    const tensors = geometry.names.map((_, input) => {
      const packed = arrayLike(caches[0]!.tensors[input]!, caches.length * heads * width * headDimension);
      caches.forEach((cache, row) => {
        const source = cache.tensors[input]!;
        const padding = width - cache.length;
        for (let head = 0; head < heads; head++) {
          const from = head * cache.length * headDimension;
          const to = ((row * heads + head) * width + padding) * headDimension;
          packed.set(source.subarray(from, from + cache.length * headDimension), to);
        }
      });
      return packed;
    });
    return new KvBatch(geometry, caches.map((cache) => cache.length), width, tensors);
  }

  /** Row `row`'s own cache, cut out of the padding (a copy). */
  extract(row: number): SequenceCache {
    const { heads, headDimension } = this.geometry;
    const length = this.lengths[row]!;
    const padding = this.width - length;
    const tensors = this.tensors.map((batch) => {
      const own = arrayLike(batch, heads * length * headDimension);
      for (let head = 0; head < heads; head++) {
        const from = ((row * heads + head) * this.width + padding) * headDimension;
        own.set(batch.subarray(from, from + length * headDimension), head * length * headDimension);
      }
      return own;
    });
    return { length, tensors };
  }

  /** The attention mask for the next step: per row, padding 0, cached tokens 1, the new token 1. */
  nextAttentionMask(): BigInt64Array {
    const columns = this.width + 1;
    const mask = new BigInt64Array(this.rows * columns);
    this.lengths.forEach((length, row) => mask.fill(1n, row * columns + (this.width - length), (row + 1) * columns));
    return mask;
  }

  /** Takes a step's `present` outputs as the new past: every row grew by one token. */
  advance(presents: CacheArray[]): void {
    this.tensors = presents;
    this.width += 1;
    for (let row = 0; row < this.lengths.length; row++) this.lengths[row]! += 1;
  }
}
