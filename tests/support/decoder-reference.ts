/**
 * An independent txt2txt reference for tests: greedy decoding without a KV cache. Each step runs
 * the decoder on the whole sequence so far (batch 1, empty past, no padding) and takes the argmax of
 * the last position's logits. It shares no code with the worker's generation loop.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import * as ort from "onnxruntime-node";

export class DecoderReference {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly tokenizer: Tokenizer,
    private readonly layers: number,
    private readonly heads: number,
    private readonly headDimension: number,
  ) {}

  static async open(modelPath: string, tokenizerPath: string, shape: { layers: number; heads: number; headDimension: number }): Promise<DecoderReference> {
    const session = await ort.InferenceSession.create(modelPath);
    return new DecoderReference(session, new Tokenizer(await Bun.file(tokenizerPath).json(), {}), shape.layers, shape.heads, shape.headDimension);
  }

  ids(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: true });
  }

  /** Logits of the last position for `ids`, recomputed from scratch. */
  async lastLogits(ids: number[]): Promise<Float32Array> {
    const shape = [1, ids.length];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), shape),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), shape),
    };
    if (this.session.inputNames.includes("position_ids")) feeds.position_ids = new ort.Tensor("int64", BigInt64Array.from(ids, (_, index) => BigInt(index)), shape);
    // A merged decoder's no-cache branch: the whole sequence, no past.
    if (this.session.inputNames.includes("use_cache_branch")) feeds.use_cache_branch = new ort.Tensor("bool", [false], [1]);
    const pastType = this.session.inputMetadata.find((metadata) => metadata.name === "past_key_values.0.key");
    const emptyPast = pastType?.isTensor && pastType.type === "float16" ? () => new ort.Tensor("float16", new Uint16Array(0), [1, this.heads, 0, this.headDimension]) : () => new ort.Tensor("float32", new Float32Array(0), [1, this.heads, 0, this.headDimension]);
    for (let layer = 0; layer < this.layers; layer++) {
      for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = emptyPast();
    }
    const { logits } = await this.session.run(feeds, ["logits"]);
    const data = logits!.data as Float32Array;
    const vocabulary = logits!.dims[2]!;
    return data.slice((ids.length - 1) * vocabulary, ids.length * vocabulary);
  }

  /** Greedy continuation of `promptIds`: up to `maxNewTokens` ids, stopping after (and including) an id in `eosIds`. */
  async greedy(promptIds: number[], maxNewTokens: number, eosIds: number[]): Promise<{ ids: number[]; finishReason: "stop" | "length" }> {
    const sequence = [...promptIds];
    const generated: number[] = [];
    for (let step = 0; step < maxNewTokens; step++) {
      const logits = await this.lastLogits(sequence);
      let best = 0;
      for (let id = 1; id < logits.length; id++) if (logits[id]! > logits[best]!) best = id;
      generated.push(best);
      if (eosIds.includes(best)) return { ids: generated, finishReason: "stop" };
      sequence.push(best);
    }
    return { ids: generated, finishReason: "length" };
  }
}
