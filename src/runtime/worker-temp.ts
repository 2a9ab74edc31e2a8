/**
 * A private temporary directory per worker process, removed when the worker exits.
 * onnxruntime's bundled telemetry SDK writes an empty `mat-debug-<pid>.log` (and a `.ses` file)
 * into $TMPDIR for every process that creates a session and never removes it; pointing each
 * worker's TMPDIR at its own directory lets the server clean up after it.
 *
 * @example
 * const temp = workerTempDirectory();
 * Bun.spawn({ cmd, env: temp.environment });
 * // when the worker has exited:
 * temp.remove();
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface WorkerTempDirectory {
  /** This process's environment with TMPDIR pointing at the private directory. */
  environment: Record<string, string | undefined>;
  remove(): void;
}

export function workerTempDirectory(): WorkerTempDirectory {
  let directory: string | undefined;
  try {
    directory = mkdtempSync(path.join(os.tmpdir(), "modelmora-worker-"));
  } catch {
    // No writable temp directory: the worker inherits TMPDIR as before.
    return { environment: { ...process.env }, remove: () => undefined };
  }
  return {
    environment: { ...process.env, TMPDIR: directory },
    remove: () => rmSync(directory, { recursive: true, force: true }),
  };
}
