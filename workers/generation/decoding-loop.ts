/**
 * Continuous batching in the worker: every sequence of this model decodes in one shared step.
 * At each step boundary, in order:
 *   1. sequences the server cancelled leave (answered `cancelled`);
 *   2. sequences that arrived since the last step are prefilled together (prefill.ts: prompts of
 *      similar length share a run, right-padded, empty past), which chooses their first token — so
 *      joining sequences make the running ones wait only for their prefill, and eight short
 *      arrivals cost one to three runs, not eight;
 *   3. when anyone joined or left, the KV cache is re-packed (kv-batch.ts: left-padded rows, one copy);
 *   4. one decoding step runs for every row (input: each row's last token), and each row's logits
 *      choose its next token; finished rows leave at the next boundary.
 * Messages arriving during a step (new sequences, cancels) wait for the boundary: a cancelled
 * sequence stops within one step.
 *
 * A decoder without a `position_ids` input computes positions from the past length, which left
 * padding would shift; for such a model every sequence keeps a batch of its own (one run per
 * sequence per step: correct, without the batching gain; its prefill is still shared, right padding
 * shifting nothing). Admission (how many sequences, in which priority order) is the
 * server's: it sends a sequence only when the model has a free slot.
 */
import * as ort from "onnxruntime-node";
import type { GenerateMessage, WorkerToServer } from "../protocol.ts";
import { type CacheArray, type CacheElementType, emptyCacheArray, KvBatch } from "./kv-batch.ts";
import { type Joining, prefillInputs, prefillRuns } from "./prefill.ts";
import { Sequence } from "./sequence.ts";
import { type DecoderSignature, decoderSignature, generationTextModel } from "./text-model.ts";

export class DecodingLoop {
  private readonly signature: DecoderSignature;
  private pending: GenerateMessage[] = [];
  private readonly byId = new Map<number, Sequence>();
  /** Sequences decoding, each group one batch (one group, unless the model lacks position_ids). */
  private groups: Group[] = [];
  private running = false;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly send: (message: WorkerToServer) => void,
  ) {
    this.signature = decoderSignature(session);
  }

  private get rows(): Sequence[] {
    return this.groups.flatMap((group) => group.rows);
  }

  start(message: GenerateMessage): void {
    this.pending.push(message);
    if (!this.running) void this.run();
  }

  cancel(sequenceId: number): void {
    const pendingIndex = this.pending.findIndex((message) => message.sequenceId === sequenceId);
    if (pendingIndex >= 0) {
      this.pending.splice(pendingIndex, 1);
      this.send({ type: "generated", steps: [{ sequenceId, tokenIds: [], text: "", finishReason: "cancelled", promptTokens: 0, completionTokens: 0 }] });
      return;
    }
    const sequence = this.byId.get(sequenceId);
    if (sequence) sequence.cancelRequested = true;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.rows.length > 0 || this.pending.length > 0) {
        try {
          await this.step();
        } catch (error) {
          this.failAll(error);
        }
        // Let IPC messages that arrived during the step (joins, cancels) in before the next one.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
    }
  }

  private async step(): Promise<void> {
    let changed = false;
    for (const sequence of this.rows) {
      if (sequence.finished) changed = true;
      else if (sequence.cancelRequested) {
        this.send({ type: "generated", steps: [sequence.cancelled()] });
        changed = true;
      }
    }
    const joining = await this.prefill(this.pending.splice(0));
    if (changed || joining.length > 0) this.repack(joining);
    if (this.rows.length > 0) await this.decode();
  }

  /** Prefills the arrivals (prefill.ts); answers each with its first token, and the rows that go on. */
  private async prefill(messages: GenerateMessage[]): Promise<Joining[]> {
    const admitted: Sequence[] = [];
    for (const message of messages) {
      const sequence = await this.admit(message);
      if (sequence) admitted.push(sequence);
    }
    const joining: Joining[] = [];
    for (const run of prefillRuns(admitted)) {
      // Whatever fails from here on (building the feeds included) answers the sequences of this run.
      try {
        const { names, heads, headDimension, elementType } = this.signature.geometry;
        const { feeds: inputs, width } = prefillInputs(run, this.signature);
        const results = await this.session.run({ ...inputs, ...this.cacheFeeds(names.map(() => emptyCacheArray(elementType)), [run.length, heads, 0, headDimension]) });
        const vocabulary = results.logits!.dims[2]!;
        const logits = results.logits!.data as Float32Array;
        const presents = this.presents(results);
        const steps = run.map((sequence, row) => {
          const last = (row * width + sequence.promptIds.length - 1) * vocabulary;
          return sequence.take(logits.subarray(last, last + vocabulary));
        });
        this.send({ type: "generated", steps });
        run.forEach((sequence, row) => {
          if (sequence.finished) this.byId.delete(sequence.id);
          else joining.push({ sequence, cache: { tensors: presents, width, row, start: 0, length: sequence.promptIds.length } });
        });
      } catch (error) {
        for (const sequence of run) {
          this.byId.delete(sequence.id);
          if (!sequence.finished) this.send({ type: "generate-failed", sequenceId: sequence.id, message: errorMessage(error), code: "INFERENCE_FAILED" });
        }
      }
    }
    return joining;
  }

  /** Tokenises a new sequence's prompt; answers it (and returns nothing) when the model cannot take it. */
  private async admit(message: GenerateMessage): Promise<Sequence | undefined> {
    const { sequenceId, settings } = message;
    try {
      const textModel = await generationTextModel(settings.files);
      const promptIds = textModel.tokenizer.encode(settings.prompt, { add_special_tokens: true }).ids;
      if (promptIds.length === 0) throw new PromptError("the prompt is empty after tokenisation");
      const limit = textModel.maxSequenceLength;
      if (limit !== undefined && promptIds.length >= limit) throw new PromptError(`the prompt has ${promptIds.length} tokens; the model takes at most ${limit} in all`);
      const sequence = new Sequence(sequenceId, settings, promptIds, textModel);
      // Known from now on, so that a cancel arriving during its prefill is not lost.
      this.byId.set(sequenceId, sequence);
      return sequence;
    } catch (error) {
      this.send({ type: "generate-failed", sequenceId, message: errorMessage(error), code: error instanceof PromptError ? "INVALID_INPUT" : "INFERENCE_FAILED" });
      return undefined;
    }
  }

  /** Re-lays the batch: the rows that stay followed by those joining, each copied once from where it lies. */
  private repack(joining: Joining[]): void {
    for (const sequence of this.rows) if (sequence.finished) this.byId.delete(sequence.id);
    const { geometry } = this.signature;
    if (!this.signature.hasPositionIds) {
      const staying = this.groups.filter((group) => !group.rows[0]!.finished);
      this.groups = [...staying, ...joining.map(({ sequence, cache }) => ({ rows: [sequence], batch: KvBatch.pack(geometry, [cache]) }))];
      return;
    }
    const rows: Joining[] = [];
    for (const group of this.groups) {
      group.rows.forEach((sequence, row) => {
        if (!sequence.finished) rows.push({ sequence, cache: group.batch.row(row) });
      });
    }
    rows.push(...joining);
    this.groups = rows.length === 0 ? [] : [{ rows: rows.map((row) => row.sequence), batch: KvBatch.pack(geometry, rows.map((row) => row.cache)) }];
  }

  /** One decoding step for every row. */
  private async decode(): Promise<void> {
    for (const group of this.groups) await this.decodeGroup(group);
  }

  private async decodeGroup({ rows, batch }: Group): Promise<void> {
    const rowCount = rows.length;
    const { heads, headDimension } = this.signature.geometry;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(rows, (sequence) => BigInt(sequence.nextInputId)), [rowCount, 1]),
      attention_mask: new ort.Tensor("int64", batch.nextAttentionMask(), [rowCount, batch.width + 1]),
      ...(this.signature.hasPositionIds && { position_ids: new ort.Tensor("int64", BigInt64Array.from(batch.lengths, BigInt), [rowCount, 1]) }),
      ...(this.signature.hasUseCacheBranch && { use_cache_branch: new ort.Tensor("bool", [batch.width > 0], [1]) }),
      ...this.cacheFeeds(batch.tensors, [rowCount, heads, batch.width, headDimension]),
    };
    const results = await this.session.run(feeds);
    batch.advance(this.presents(results));
    const logits = results.logits!.data as Float32Array;
    const vocabulary = results.logits!.dims[2]!;
    // One message for the whole step: 8 sequences cost one IPC message, not eight. Each row's
    // logits are a view (the sampler may change them in place; the array is this step's alone).
    const steps = rows.flatMap((sequence, row) => (sequence.finished ? [] : [sequence.take(logits.subarray(row * vocabulary, (row + 1) * vocabulary))]));
    if (steps.length > 0) this.send({ type: "generated", steps });
  }

  /** The cache inputs: `caches[i]` as `names[i]`, of dims `cacheShape`. */
  private cacheFeeds(caches: CacheArray[], cacheShape: number[]): Record<string, ort.Tensor> {
    const { names, elementType } = this.signature.geometry;
    return Object.fromEntries(names.map((name, index) => [name, cacheTensor(elementType, caches[index]!, cacheShape)]));
  }

  /** A run's `present.*` outputs, in the order of the cache inputs. */
  private presents(results: ort.InferenceSession.OnnxValueMapType): CacheArray[] {
    return this.signature.geometry.names.map((name) => results[name.replace("past_key_values", "present")]!.data as CacheArray);
  }

  /** A failed step fails every sequence in the batch; the loop starts afresh with the next arrivals. */
  private failAll(error: unknown): void {
    for (const sequence of this.rows) {
      if (!sequence.finished) this.send({ type: "generate-failed", sequenceId: sequence.id, message: errorMessage(error), code: "INFERENCE_FAILED" });
      this.byId.delete(sequence.id);
    }
    this.groups = [];
  }
}

interface Group {
  rows: Sequence[];
  batch: KvBatch;
}

/** A cache input's tensor (float16 as raw half bits: the worker pins onnxruntime to them, workers/float16.ts). */
function cacheTensor(elementType: CacheElementType, data: CacheArray, dims: number[]): ort.Tensor {
  return elementType === "float32" ? new ort.Tensor("float32", data as Float32Array, dims) : new ort.Tensor("float16", data as Uint16Array, dims);
}

/** A prompt the model cannot take: the request's fault, INVALID_INPUT. */
class PromptError extends Error {}

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!.slice(0, 500);
}
