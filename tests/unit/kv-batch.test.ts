/**
 * Pins the KV-cache layout of continuous batching: rows are left-padded with zeros to the longest,
 * the mask is 0 over padding and 1 over tokens and the new one, a step's present becomes the past
 * with every row one longer, and re-packing a row (from a batch, or from a right-padded prefill
 * output) gives back exactly its own tokens.
 */
import { describe, expect, test } from "bun:test";
import { type CacheRow, KvBatch } from "../../workers/generation/kv-batch.ts";

const geometry = { names: ["past_key_values.0.key", "past_key_values.0.value"], heads: 2, headDimension: 3, elementType: "float32" as const };

/** A sequence's own cache alone (one row, no padding), as the batch keeps it per input. */
interface SequenceCache {
  length: number;
  tensors: (Float32Array | Uint16Array)[];
}

/** `cache` as a one-row source for `KvBatch.pack`. */
function alone(cache: SequenceCache): CacheRow {
  return { tensors: cache.tensors, width: cache.length, row: 0, start: 0, length: cache.length };
}

/** Row `row` of `batch`, cut out of its padding: packed alone, a row is exactly its own cache. */
function extract(batch: KvBatch, row: number): SequenceCache {
  const own = KvBatch.pack(batch.geometry, [batch.row(row)]);
  return { length: own.width, tensors: own.tensors };
}

/** A cache whose values encode (sequence, input, head, position, dim), so misplacement shows. */
function cache(sequence: number, length: number): SequenceCache {
  return {
    length,
    tensors: geometry.names.map((_, input) =>
      Float32Array.from({ length: geometry.heads * length * geometry.headDimension }, (_, index) => {
        const dim = index % 3;
        const position = Math.floor(index / 3) % length;
        const head = Math.floor(index / (3 * length));
        return 1 + sequence * 10_000 + input * 1000 + head * 100 + position * 10 + dim;
      }),
    ),
  };
}

describe("KvBatch", () => {
  test("packs rows left-padded with zeros and masks the padding", () => {
    const batch = KvBatch.pack(geometry, [cache(0, 3), cache(1, 1)].map(alone));
    expect(batch.width).toBe(3);
    expect(batch.lengths).toEqual([3, 1]);
    const key = batch.tensors[0]!;
    // Row 1, head 0: two padded positions (zeros), then its one token.
    const row1head0 = Array.from(key.subarray((1 * 2 + 0) * 3 * 3, (1 * 2 + 0) * 3 * 3 + 9));
    expect(row1head0).toEqual([0, 0, 0, 0, 0, 0, 10_001, 10_002, 10_003]);
    expect(Array.from(batch.nextAttentionMask(), Number)).toEqual([1, 1, 1, 1, 0, 0, 1, 1]);
  });

  test("a row re-packed alone gives back each row's own cache exactly, before and after a step", () => {
    const caches = [cache(0, 2), cache(1, 4), cache(2, 1)];
    const batch = KvBatch.pack(geometry, caches.map(alone));
    caches.forEach((own, row) => {
      const extracted = extract(batch, row);
      expect(extracted.length).toBe(own.length);
      extracted.tensors.forEach((tensor, input) => expect(Array.from(tensor)).toEqual(Array.from(own.tensors[input]!)));
    });
    // A step appends one position to every row at the same index (width): present = past + 1.
    const presents = batch.tensors.map((past) => {
      const present = new Float32Array((past.length / batch.width) * (batch.width + 1));
      for (let slab = 0; slab < past.length / (batch.width * 3); slab++) {
        present.set(past.subarray(slab * batch.width * 3, (slab + 1) * batch.width * 3), slab * (batch.width + 1) * 3);
        present.fill(-1, (slab * (batch.width + 1) + batch.width) * 3, (slab + 1) * (batch.width + 1) * 3);
      }
      return present;
    });
    batch.advance(presents);
    expect(batch.width).toBe(5);
    expect(batch.lengths).toEqual([3, 5, 2]);
    const row2 = extract(batch, 2).tensors[0]!;
    // Row 2's head 0: its one old token, then the new one.
    expect(Array.from(row2.subarray(0, 6))).toEqual([20_001, 20_002, 20_003, -1, -1, -1]);
  });

  test("float16 caches (raw half bits) keep their kind and bits through re-packing", () => {
    const half = { ...geometry, elementType: "float16" as const };
    // Row r's values: distinct bit patterns, as onnxruntime hands float16 out in the worker.
    const own = (row: number, length: number): SequenceCache => ({
      length,
      tensors: half.names.map((_, input) => Uint16Array.from({ length: half.heads * length * half.headDimension }, (_, index) => 0x3c00 + row * 512 + input * 128 + index)),
    });
    const caches = [own(1, 2), own(2, 4)];
    const batch = KvBatch.pack(half, caches.map(alone));
    expect(batch.tensors.every((tensor) => tensor instanceof Uint16Array)).toBe(true);
    caches.forEach((cache, row) => {
      extract(batch, row).tensors.forEach((tensor, input) => {
        expect(tensor).toBeInstanceOf(Uint16Array);
        expect(Array.from(tensor)).toEqual(Array.from(cache.tensors[input]!));
      });
    });
  });

  test("rows of a right-padded prefill output join a running batch with only their own tokens", () => {
    // A running batch (rows of 2 and 4 tokens), then a prefill of two prompts (3 and 1 tokens) right-padded to 3.
    const running = KvBatch.pack(geometry, [cache(0, 2), cache(1, 4)].map(alone));
    const prompts = [cache(2, 3), cache(3, 1)];
    const prefillWidth = 3;
    const prefill = geometry.names.map((_, input) => {
      const output = new Float32Array(prompts.length * geometry.heads * prefillWidth * 3).fill(-7);
      prompts.forEach((prompt, row) => {
        for (let head = 0; head < geometry.heads; head++) {
          const own = prompt.tensors[input]!.subarray(head * prompt.length * 3, (head + 1) * prompt.length * 3);
          output.set(own, (row * geometry.heads + head) * prefillWidth * 3);
        }
      });
      return output;
    });
    const joined = KvBatch.pack(geometry, [
      running.row(1),
      ...prompts.map((prompt, row): CacheRow => ({ tensors: prefill, width: prefillWidth, row, start: 0, length: prompt.length })),
    ]);
    expect(joined.width).toBe(4);
    expect(joined.lengths).toEqual([4, 3, 1]);
    [cache(1, 4), ...prompts].forEach((own, row) => {
      extract(joined, row).tensors.forEach((tensor, input) => expect(Array.from(tensor)).toEqual(Array.from(own.tensors[input]!)));
    });
    // The prefill's padding (-7) never reaches the batch: left padding is zeros.
    expect(Array.from(joined.tensors[0]!)).not.toContain(-7);
  });
});
