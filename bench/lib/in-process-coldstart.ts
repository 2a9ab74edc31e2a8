/**
 * The cold-start baseline: what a program that uses onnxruntime itself pays before its first answer.
 * Run once per repetition as a fresh child process by bench/coldstart.ts, so nothing is warm but the
 * page cache. Session options match the workers' on CPU (`executionProviders: ["cpu"]`, defaults).
 *
 * Usage: bun bench/lib/in-process-coldstart.ts '{"modelPath":…,"input":"x","shape":[1,3,48,320],"seed":5}'
 * Prints one JSON line: { importMilliseconds, createMilliseconds, firstRunMilliseconds, totalMilliseconds }
 * where total = create + first run (the import is reported apart: a server pays it before any request).
 */
import { elementCount, pseudoRandomValues } from "./data.ts";

interface Options {
  modelPath: string;
  input: string;
  shape: number[];
  seed: number;
}

const options = JSON.parse(process.argv[2] ?? "{}") as Options;
const data = Float32Array.from(pseudoRandomValues(elementCount(options.shape), options.seed));

// A dynamic import, so the native addon's load is timed here rather than hoisted before the script.
const importStartedAt = performance.now();
const ort = await import("onnxruntime-node");
const importMilliseconds = performance.now() - importStartedAt;

const createStartedAt = performance.now();
const session = await ort.InferenceSession.create(options.modelPath, { executionProviders: ["cpu"] });
const createMilliseconds = performance.now() - createStartedAt;

const runStartedAt = performance.now();
const outputs = await session.run({ [options.input]: new ort.Tensor("float32", data, options.shape) });
const firstRunMilliseconds = performance.now() - runStartedAt;

if (Object.keys(outputs).length === 0) throw new Error("the first run returned no outputs");
process.stdout.write(`${JSON.stringify({ importMilliseconds, createMilliseconds, firstRunMilliseconds, totalMilliseconds: createMilliseconds + firstRunMilliseconds })}\n`);
