/**
 * A private temporary directory per worker process, removed when the worker exits.
 * onnxruntime's bundled telemetry SDK writes an empty `mat-debug-<pid>.log` (and a `.ses` file)
 * into $TMPDIR for every process that creates a session and never removes it; pointing each
 * worker's TMPDIR at its own directory lets the server clean up after it.
 *
 * Not in the compiled binary: there Bun unpacks onnxruntime's native libraries (46 MB) into $TMPDIR,
 * content-addressed and shared by every worker; a private directory would unpack them again for each
 * worker. Binary workers keep the inherited TMPDIR (and leave the telemetry files behind).
 *
 * @example
 * const temp = workerTempDirectory();
 * Bun.spawn({ cmd, env: { ...env, ...(temp.directory && { TMPDIR: temp.directory }) } });
 * // when the worker has exited:
 * temp.remove();
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { RUNNING_FROM_BINARY } from "./embedded-assets.ts";

export interface WorkerTempDirectory {
  /** The worker's TMPDIR; undefined = keep the inherited one. */
  directory: string | undefined;
  remove(): void;
}

export function workerTempDirectory(): WorkerTempDirectory {
  if (RUNNING_FROM_BINARY) return { directory: undefined, remove: () => undefined };
  let directory: string;
  try {
    directory = mkdtempSync(path.join(os.tmpdir(), "modelmora-worker-"));
  } catch {
    // No writable temp directory: the worker inherits TMPDIR as before.
    return { directory: undefined, remove: () => undefined };
  }
  return { directory, remove: () => rmSync(directory, { recursive: true, force: true }) };
}
