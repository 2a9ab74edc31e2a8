/**
 * The KV cache of the sequences decoding together, laid out as the model takes it: for each cache
 * input (`past_key_values.{i}.key/value`) one array [rows, heads, width, headDim] (float32, or
 * float16 for fp16 exports — the elements are only moved, never read, so both lay out alike), where
 * `width` is the longest sequence's cached length and every shorter row is **left-padded** with
 * zeros. The attention mask row of a sequence is 0 over its padding and 1 over its tokens, so the
 * padding receives exactly zero attention weight (softmax of −∞-like scores) and changes nothing.
 *
 * Between joins and leaves the batch is never copied by us: a step's `present` outputs
 * [rows, heads, width + 1, headDim] are the next step's past as they are (every row grew by one, so
 * the padding stays on the left). When a sequence joins or leaves, the batch is **re-packed** in
 * one copy: each row's own tokens go straight from where they lie — a row of the running batch
 * (after its left padding) or a row of a joining prefill's output (right-padded, from column 0) —
 * to their place in the new batch. Re-packing happens only at a membership change.
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

/**
 * Where one sequence's cache lies: row `row` of per-input arrays [rows, heads, width, headDim],
 * its `length` tokens at columns [start, start + length) of each head.
 */
export interface CacheRow {
  tensors: CacheArray[];
  width: number;
  row: number;
  start: number;
  length: number;
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

  /** Lays `sources` out as a fresh left-padded batch, row i from `sources[i]` (one copy of each row's tokens). */
  static pack(geometry: CacheGeometry, sources: CacheRow[]): KvBatch {
    const { heads, headDimension } = geometry;
    const width = Math.max(0, ...sources.map((source) => source.length));
    const tensors = geometry.names.map((_, input) => {
      const packed = arrayLike(sources[0]!.tensors[input]!, sources.length * heads * width * headDimension);
      sources.forEach((source, row) => {
        const from = source.tensors[input]!;
        const padding = width - source.length;
        const count = source.length * headDimension;
        for (let head = 0; head < heads; head++) {
          const begin = ((source.row * heads + head) * source.width + source.start) * headDimension;
          packed.set(from.subarray(begin, begin + count), ((row * heads + head) * width + padding) * headDimension);
        }
      });
      return packed;
    });
    return new KvBatch(geometry, sources.map((source) => source.length), width, tensors);
  }

  /** Where row `row`'s own tokens lie in this batch (valid until the next step replaces the tensors). */
  row(row: number): CacheRow {
    const length = this.lengths[row]!;
    return { tensors: this.tensors, width: this.width, row, start: this.width - length, length };
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
