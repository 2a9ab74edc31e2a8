/**
 * The limit: how many items/s onnxruntime itself runs a model at, in-process, with nothing around
 * it (no HTTP, no JSON, no IPC). Run as a child process by bench/serve.ts so the bench's own
 * process never loads onnxruntime; session options match the workers' (CPU, defaults).
 *
 * Usage: bun bench/lib/raw-limit.ts '{"modelPath":…,"input":"x","itemShape":[3,48,192],"batchSizes":[1,4,8,16,32],"secondsPerSize":1.5}'
 * Prints one JSON line: { results: [{ batchSize, itemsPerSecond, runs }] }.
 */
import * as ort from "onnxruntime-node";
import { elementCount, pseudoRandomValues } from "./data.ts";

interface Options {
  modelPath: string;
  input: string;
  itemShape: number[];
  batchSizes: number[];
  secondsPerSize: number;
}

const options = JSON.parse(process.argv[2] ?? "{}") as Options;
const session = await ort.InferenceSession.create(options.modelPath, { executionProviders: ["cpu"] });
const itemValues = pseudoRandomValues(elementCount(options.itemShape));

const results: { batchSize: number; itemsPerSecond: number; runs: number }[] = [];
for (const batchSize of options.batchSizes) {
  const data = new Float32Array(batchSize * itemValues.length);
  for (let item = 0; item < batchSize; item++) data.set(itemValues, item * itemValues.length);
  const feeds = { [options.input]: new ort.Tensor("float32", data, [batchSize, ...options.itemShape]) };
  for (let warmup = 0; warmup < 3; warmup++) await session.run(feeds);
  let runs = 0;
  const startedAt = performance.now();
  const until = startedAt + options.secondsPerSize * 1000;
  while (runs < 3 || performance.now() < until) {
    await session.run(feeds);
    runs++;
  }
  const seconds = (performance.now() - startedAt) / 1000;
  results.push({ batchSize, itemsPerSecond: (batchSize * runs) / seconds, runs });
}
process.stdout.write(`${JSON.stringify({ results })}\n`);
