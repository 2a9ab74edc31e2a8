/**
 * An independent txt2embed reference for tests: tokenise with @huggingface/tokenizers directly, run
 * onnxruntime directly on each text alone (batch 1, so no padding at all), pool, normalise. It shares
 * no code with the worker's pipeline.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-node";

export interface ReferenceOptions {
  pooling?: "mean" | "cls" | "last";
  normalize?: boolean;
  /** Cut to this many tokens, keeping the last ([SEP]). */
  maxLength?: number;
  withTokenTypes?: boolean;
}

export class EmbeddingReference {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly tokenizer: Tokenizer,
  ) {}

  static async open(modelPath: string, tokenizerPath: string): Promise<EmbeddingReference> {
    const session = await ort.InferenceSession.create(modelPath);
    return new EmbeddingReference(session, new Tokenizer(await Bun.file(tokenizerPath).json(), {}));
  }

  ids(text: string, maxLength = Number.POSITIVE_INFINITY): number[] {
    const ids = this.tokenizer.encode(text).ids;
    return ids.length > maxLength ? [...ids.slice(0, maxLength - 1), ids.at(-1)!] : ids;
  }

  async embed(text: string, options: ReferenceOptions = {}): Promise<number[]> {
    const ids = this.ids(text, options.maxLength);
    const shape = [1, ids.length];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), shape),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), shape),
    };
    if (options.withTokenTypes ?? true) feeds.token_type_ids = new ort.Tensor("int64", new BigInt64Array(ids.length), shape);
    const hidden = (await this.session.run(feeds)).last_hidden_state!;
    const dimensions = hidden.dims[2]!;
    const data = hidden.data as Float32Array;
    const row = (position: number) => Array.from(data.subarray(position * dimensions, (position + 1) * dimensions));
    let vector: number[];
    const pooling = options.pooling ?? "mean";
    if (pooling === "cls") vector = row(0);
    else if (pooling === "last") vector = row(ids.length - 1);
    else {
      vector = new Array(dimensions).fill(0);
      for (let position = 0; position < ids.length; position++) row(position).forEach((value, index) => (vector[index]! += value / ids.length));
    }
    if (options.normalize ?? true) {
      const norm = Math.hypot(...vector);
      vector = vector.map((value) => value / norm);
    }
    return vector;
  }
}

/** Largest absolute difference between two equally long lists of vectors. */
export function maxDifference(actual: number[][], expected: number[][]): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let largest = 0;
  actual.forEach((vector, row) => {
    if (vector.length !== expected[row]!.length) largest = Number.POSITIVE_INFINITY;
    vector.forEach((value, index) => (largest = Math.max(largest, Math.abs(value - expected[row]![index]!))));
  });
  return largest;
}
