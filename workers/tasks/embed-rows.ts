/**
 * Runs tokenised texts through a txt2embed model and pools one vector per text. The texts of a batch
 * (several requests) do not go in as one run padded to the longest: they are sorted by length and
 * cut into runs of at most RUN_TOKEN_BUDGET padded tokens, each padded only to its own longest text.
 * A text gets the same vector, within float rounding, whichever run it lands in (the attention mask
 * hides the padding).
 *
 * Why: with mixed lengths, one padded run computes mostly padding (attention grows with the square of
 * the padded length), and on a CPU a large run is slower per text than several small ones (its
 * activations leave the caches). Measured by hand on the 2-core bench machine with a MiniLM-L6-shaped
 * encoder (tests/fixtures/text-encoder.ts MINILM_L6), best of six, ms per text by texts per run:
 *
 *   tokens per text   1 per run   2       4       8       16
 *   24                6.1         4.8     3.6     3.8     3.8
 *   72                14.4        12.4    11.0    11.8    12.5
 *   140               22.0        20.5    21.0    22.4    23.6
 *
 * so the best run holds ≈ 100–300 tokens, and batching makes the compute at most 1.1–1.7× faster
 * than one text per run. 32 texts of 3 to 120 words in one run padded to the longest took 3.5 s, one
 * text per run 1.3 s.
 */
import * as ort from "onnxruntime-node";
import type { TensorSpec } from "../protocol.ts";

/**
 * Most padded tokens (texts × their run's longest text) one `session.run` takes (see the table
 * above). Smaller runs pay onnxruntime's per-run overhead more often and use the CPU less well;
 * larger ones lose the CPU caches on a real encoder, and pad more. Tuned for CPU; a GPU would
 * want far larger runs.
 */
export const RUN_TOKEN_BUDGET = 320;

export type Pooling = "mean" | "cls" | "last";

export interface TokenRow {
  ids: number[];
  typeIds: number[];
}

/**
 * The runs for rows of these token `lengths`: indices into `lengths`, shortest texts first, each run
 * holding as many texts as fit in `tokenBudget` padded tokens (always at least one). With a
 * `fixedLength` (a model whose sequence dimension is fixed) every row is padded to it.
 *
 * @example lengthRuns([5, 100, 6, 90], 200) // [[0, 2], [3, 1]]
 */
export function lengthRuns(lengths: number[], tokenBudget: number, fixedLength?: number): number[][] {
  const order = lengths.map((_, index) => index).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const runs: number[][] = [];
  let run: number[] = [];
  for (const index of order) {
    // Sorted ascending: this row is the longest of the run if it joins.
    const padded = fixedLength ?? lengths[index]!;
    if (run.length > 0 && (run.length + 1) * padded > tokenBudget) {
      runs.push(run);
      run = [];
    }
    run.push(index);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** Pools one vector per row, in the rows' order: [rows.length × dimensions]. */
export async function embedRows(session: ort.InferenceSession, inputs: TensorSpec[], rows: TokenRow[], fixedLength: number | undefined, pooling: Pooling): Promise<Float32Array> {
  let pooled: Float32Array | undefined;
  for (const run of lengthRuns(rows.map((row) => row.ids.length), RUN_TOKEN_BUDGET, fixedLength)) {
    const vectors = await embedRun(session, inputs, run.map((index) => rows[index]!), fixedLength, pooling);
    const dimensions = vectors.length / run.length;
    pooled ??= new Float32Array(rows.length * dimensions);
    run.forEach((rowIndex, position) => pooled!.set(vectors.subarray(position * dimensions, (position + 1) * dimensions), rowIndex * dimensions));
  }
  return pooled ?? new Float32Array(0);
}

/** One run: pads the rows to the longest (or the model's fixed length), runs the model, pools per row. */
async function embedRun(session: ort.InferenceSession, inputs: TensorSpec[], rows: TokenRow[], fixedLength: number | undefined, pooling: Pooling): Promise<Float32Array> {
  const length = fixedLength ?? Math.max(...rows.map((entry) => entry.ids.length));
  const count = rows.length;
  const ids = new BigInt64Array(count * length);
  const mask = new BigInt64Array(count * length);
  const typeIds = new BigInt64Array(count * length);
  rows.forEach((entry, index) => {
    for (let position = 0; position < entry.ids.length; position++) {
      ids[index * length + position] = BigInt(entry.ids[position]!);
      mask[index * length + position] = 1n;
      typeIds[index * length + position] = BigInt(entry.typeIds[position]!);
    }
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const values = input.name === "attention_mask" ? mask : input.name === "token_type_ids" ? typeIds : input.name === "input_ids" ? ids : undefined;
    if (!values) throw new Error(`txt2embed cannot feed model input "${input.name}" (it knows input_ids, attention_mask, token_type_ids)`);
    feeds[input.name] = input.datatype === "INT32" ? new ort.Tensor("int32", Int32Array.from(values, Number), [count, length]) : new ort.Tensor("int64", values, [count, length]);
  }
  const outputName = session.outputNames.includes("last_hidden_state") ? "last_hidden_state" : session.outputNames[0]!;
  const results = await session.run(feeds, [outputName]);
  for (const tensor of Object.values(feeds)) tensor.dispose();
  const hidden = results[outputName]!;
  try {
    return pooled(hidden, rows, pooling, outputName);
  } finally {
    hidden.dispose();
  }
}

function pooled(hidden: ort.Tensor, rows: TokenRow[], pooling: Pooling, outputName: string): Float32Array {
  const data = hidden.data as Float32Array;
  if (hidden.dims.length === 2) return data.slice(); // already one vector per text (a pooled output)
  if (hidden.dims.length !== 3) throw new Error(`txt2embed expects output "${outputName}" of rank 2 or 3, got [${hidden.dims.join(", ")}]`);
  const [, sequence, dimensions] = hidden.dims as [number, number, number];
  const out = new Float32Array(rows.length * dimensions);
  rows.forEach((entry, index) => {
    const real = Math.min(entry.ids.length, sequence);
    const vector = out.subarray(index * dimensions, (index + 1) * dimensions);
    const rowAt = (position: number) => (index * sequence + position) * dimensions;
    if (pooling === "cls" || pooling === "last") {
      const start = rowAt(pooling === "cls" ? 0 : real - 1);
      vector.set(data.subarray(start, start + dimensions));
      return;
    }
    // Mean over the real tokens only: padding never changes a row.
    const sums = new Float64Array(dimensions);
    for (let position = 0; position < real; position++) {
      const start = rowAt(position);
      for (let dimension = 0; dimension < dimensions; dimension++) sums[dimension]! += data[start + dimension]!;
    }
    for (let dimension = 0; dimension < dimensions; dimension++) vector[dimension] = sums[dimension]! / real;
  });
  return out;
}
