/**
 * Prefill of the sequences that join at one step boundary: their prompts run together, one run per
 * group, each prompt **right-padded** to the group's longest. A row's tokens sit at columns
 * 0 … length−1 with positions 0 … length−1, exactly as when it runs alone; the attention mask is 0
 * over the padding after them, and causal attention never lets a real token see a later column, so
 * a row's logits and cache are its own. The first token is chosen from the logits at its last real
 * column; its cache (columns [0, length) of its row of the `present` outputs) is re-packed into the
 * decoding batch by kv-batch.ts, left-padded there.
 *
 * Which prompts share a run is a cost rule. A run costs one pass over the weights (the same at one
 * row or many: small batches are bound by reading them) plus compute per padded token (long prompts
 * are bound by it, where padding is pure waste). So prompts go shortest first, and the next one
 * joins the run while the padding it adds stays within `PREFILL_PADDING_TOKENS` — about what one
 * weights pass costs in tokens — and the run within `PREFILL_TOKENS_PER_RUN` padded tokens: a
 * run's logits are rows × width × vocabulary floats (its attention rows × heads × width²), so a run
 * of several prompts never needs more than one prompt of that length alone; a longer prompt runs
 * alone, as it would anyway. Eight short chat prompts take one to three runs instead of eight.
 */
import * as ort from "onnxruntime-node";
import type { CacheRow } from "./kv-batch.ts";
import type { Sequence } from "./sequence.ts";
import type { DecoderSignature } from "./text-model.ts";

/**
 * Padded tokens (rows × longest prompt) one prefill run takes at most, unless one prompt is longer.
 * 512 holds eight chat-sized prompts; its logits at a 128k vocabulary are 256 MiB, as one 512-token prompt's are.
 */
export const PREFILL_TOKENS_PER_RUN = 512;

/**
 * Padding tokens a prompt may add to a run it joins: below this, the padding's compute costs less
 * than the separate run's pass over the weights it saves. On the 2-core bench machine a prefill
 * of the bench decoder cost ~4.6 ms + ~0.27 ms per token, so ~17 tokens break even.
 */
export const PREFILL_PADDING_TOKENS = 16;

/** A sequence whose prefill chose its first token and which decodes on, with where its cache lies. */
export interface Joining {
  sequence: Sequence;
  cache: CacheRow;
}

/** `sequences` grouped into prefill runs: shortest prompts first, each run within the padding and token budgets. */
export function prefillRuns(sequences: readonly Sequence[], limits = { paddingTokens: PREFILL_PADDING_TOKENS, tokensPerRun: PREFILL_TOKENS_PER_RUN }): Sequence[][] {
  const sorted = [...sequences].sort((a, b) => a.promptIds.length - b.promptIds.length);
  const runs: Sequence[][] = [];
  let current: Sequence[] = [];
  let currentTokens = 0;
  for (const sequence of sorted) {
    // Sorted ascending: this prompt is the run's longest, so every row already in it pads up to its length.
    const length = sequence.promptIds.length;
    const addedPadding = current.length * length - currentTokens;
    if (current.length > 0 && (addedPadding > limits.paddingTokens || (current.length + 1) * length > limits.tokensPerRun)) {
      runs.push(current);
      current = [];
      currentTokens = 0;
    }
    current.push(sequence);
    currentTokens += length;
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/** The run's non-cache inputs: ids, mask and positions [rows, width], right-padded; `width` is the longest prompt. */
export function prefillInputs(run: readonly Sequence[], signature: DecoderSignature): { feeds: Record<string, ort.Tensor>; width: number } {
  const width = Math.max(...run.map((sequence) => sequence.promptIds.length));
  const ids = new BigInt64Array(run.length * width);
  const mask = new BigInt64Array(run.length * width);
  const positions = new BigInt64Array(run.length * width);
  run.forEach((sequence, row) => {
    sequence.promptIds.forEach((id, column) => (ids[row * width + column] = BigInt(id)));
    mask.fill(1n, row * width, row * width + sequence.promptIds.length);
    // Padding columns go on counting: any valid position does, as nothing real attends to them.
    for (let column = 0; column < width; column++) positions[row * width + column] = BigInt(column);
  });
  const dims = [run.length, width];
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor("int64", ids, dims), attention_mask: new ort.Tensor("int64", mask, dims) };
  if (signature.hasPositionIds) feeds.position_ids = new ort.Tensor("int64", positions, dims);
  if (signature.hasUseCacheBranch) feeds.use_cache_branch = new ort.Tensor("bool", [false], [1]);
  return { feeds, width };
}
