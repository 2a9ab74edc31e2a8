/**
 * How a worker process is started. From source: `bun workers/main.ts`. From the compiled binary,
 * which holds no workers/main.ts on disk: the binary itself, with WORKER_MODE_ARGUMENT first, which
 * src/binary.ts dispatches to the worker entry instead of the CLI.
 */
import path from "node:path";
import { RUNNING_FROM_BINARY } from "./embedded-assets.ts";

/** Hidden first argument of `dist/modelmora`: run as a worker (IPC to the parent), not as the CLI. */
export const WORKER_MODE_ARGUMENT = "__worker";

const WORKER_ENTRY = path.join(import.meta.dir, "..", "..", "workers", "main.ts");

/**
 * The argv of one worker process; it must be spawned with an IPC channel. `label` (the model's
 * "name@version") is appended as `--model=<label>`, which the worker ignores, so that `ps` shows
 * which model each worker serves.
 *
 * @example Bun.spawn({ cmd: workerCommand("ocr-cls@1"), ipc: onMessage, serialization: "advanced" })
 */
export function workerCommand(label?: string): string[] {
  const command = RUNNING_FROM_BINARY ? [process.execPath, WORKER_MODE_ARGUMENT] : [process.execPath, WORKER_ENTRY];
  return label === undefined ? command : [...command, `--model=${label}`];
}
