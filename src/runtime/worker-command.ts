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
export function workerCommand(label?: string, limits: WorkerResourceLimits = {}): string[] {
  const command = RUNNING_FROM_BINARY ? [process.execPath, WORKER_MODE_ARGUMENT] : [process.execPath, WORKER_ENTRY];
  const labelled = label === undefined ? command : [...command, `--model=${label}`];
  return limits.addressSpaceBytes === undefined ? labelled : [prlimitPath(), `--as=${limits.addressSpaceBytes}`, "--", ...labelled];
}

/**
 * Resource limits set on a worker process as it starts. Bun.spawn sets no rlimits itself, so the
 * command goes through util-linux `prlimit`, which sets them and then execs the worker (same pid,
 * same IPC channel).
 */
export interface WorkerResourceLimits {
  /** RLIMIT_AS (MODELMORA_WORKER_MEMORY_LIMIT_MB): allocations beyond it fail inside the worker. */
  addressSpaceBytes?: number;
}

/** The `prlimit` executable; an error naming the setting when it is not installed. */
export function prlimitPath(): string {
  const found = Bun.which("prlimit");
  if (!found) throw new Error("MODELMORA_WORKER_MEMORY_LIMIT_MB needs the prlimit command (util-linux), which is not on PATH");
  return found;
}
