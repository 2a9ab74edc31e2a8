/**
 * The output shapes a model gave for each set of input shapes, so that the next batch with the same
 * input shapes can have onnxruntime write its outputs straight into the output arena (pre-allocated
 * output tensors over arena views) instead of copying them there after the run: one pass over a
 * large output fewer (64 MiB: ~4 ms of CPU of the run's ~20).
 *
 * A model whose output shapes depend on the input's values (not only its shapes) makes onnxruntime
 * refuse the pre-allocated tensors; that signature is then never planned again,
 * so such a model pays one failed attempt per input-shape signature, not one per batch.
 *
 * @example
 * const plans = new OutputPlans();
 * const key = plans.key(inputs, undefined);
 * plans.expected(key); // undefined: never run with these shapes
 * plans.remember(key, outputs); // after the run
 * plans.expected(key); // [{ name: "y", datatype: "FP32", shape: [16384, 1024], byteLength: 67108864 }]
 */
import type { OutputShape } from "./outputs.ts";
import type { WireTensor } from "./protocol.ts";

/**
 * Outputs smaller than this are copied into the arena after the run, as before plans existed: the
 * copy saved was measured on large outputs only, and a few kilobytes cost next to nothing to copy.
 */
const PLANNED_OUTPUT_MIN_BYTES = 64 * 1024;

/** Signatures kept; a model fed ever-new shapes (e.g. free text lengths) stops planning beyond it. */
const MAX_SIGNATURES = 64;

export class OutputPlans {
  /** "unplanned": the outputs are small or BYTES, or onnxruntime refused the plan. */
  private readonly shapes = new Map<string, OutputShape[] | "unplanned">();

  /** The input names, datatypes and shapes, and the outputs asked for: what fixes the output shapes. */
  key(inputs: readonly WireTensor[], outputNames: readonly string[] | undefined): string {
    let key = outputNames ? outputNames.join(",") : "*";
    for (const input of inputs) key += `|${input.name}:${input.datatype}:${input.shape.join("x")}`;
    return key;
  }

  expected(key: string): OutputShape[] | undefined {
    const shapes = this.shapes.get(key);
    return shapes === "unplanned" ? undefined : shapes;
  }

  /** Records a run's outputs: a plan when all are numeric and large enough to go through the arena. */
  remember(key: string, outputs: readonly WireTensor[]): void {
    if (this.shapes.has(key) || this.shapes.size >= MAX_SIGNATURES) return;
    const shapes: OutputShape[] = [];
    let totalBytes = 0;
    for (const { name, datatype, shape, data } of outputs) {
      if (Array.isArray(data) || datatype === "BYTES") return void this.shapes.set(key, "unplanned");
      shapes.push({ name, datatype, shape: [...shape], byteLength: data.byteLength });
      totalBytes += data.byteLength;
    }
    this.shapes.set(key, totalBytes >= PLANNED_OUTPUT_MIN_BYTES ? shapes : "unplanned");
  }

  /** onnxruntime refused the planned shapes: this signature is always run without a plan. */
  markUnstable(key: string): void {
    this.shapes.set(key, "unplanned");
  }
}
