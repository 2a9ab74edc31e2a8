/**
 * Entry of the compiled executable `dist/modelmora` (scripts/build-binary.ts builds it). It is both
 * programs: the CLI (`modelmora serve …`, same commands and flags as `bun src/cli.ts`) and, when
 * started by the server with the hidden WORKER_MODE_ARGUMENT, a worker process that owns one
 * onnxruntime session (workers/main.ts).
 *
 * Both are imported dynamically so that only one of them is evaluated: the server never loads
 * onnxruntime, and a worker opens the embedded libonnxruntime before onnxruntime-node's binding.
 */
import { loadEmbeddedOnnxruntime } from "./runtime/onnxruntime-library.ts";
import { WORKER_MODE_ARGUMENT } from "./runtime/worker-command.ts";

const argv = process.argv.slice(2);

if (argv[0] === WORKER_MODE_ARGUMENT) {
  loadEmbeddedOnnxruntime();
  await import("../workers/main.ts");
} else {
  const { main } = await import("./cli.ts");
  process.exitCode = await main(argv);
}
