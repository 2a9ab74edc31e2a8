/**
 * Download progress on stderr. On a terminal: one redrawn line with a bar, bytes and rate (or a
 * spinner while a server downloads on our behalf). Elsewhere (CI logs, pipes): nothing while it
 * runs and one summary line per finished download, so logs stay readable.
 */
import type { FetchProgress } from "../registry/model-cache.ts";
import type { Io } from "./io.ts";
import { formatBytes } from "./output.ts";

const BAR_WIDTH = 24;
/** Redraws at most this often; a fast local copy would otherwise spend its time drawing. */
const REDRAW_MILLISECONDS = 100;
const SPINNER_FRAMES = ["|", "/", "-", "\\"];

/** A listener for ModelCache's `onProgress` that draws on `io.stderr`. */
export function downloadProgress(io: Io): (progress: FetchProgress) => void {
  let startedAt: number | undefined;
  let drawnAt = Number.NEGATIVE_INFINITY;
  return (progress) => {
    const now = performance.now();
    startedAt ??= now;
    const seconds = Math.max((now - startedAt) / 1000, 1e-3);
    if (!io.stderrIsTty) {
      if (progress.done && progress.remote) io.stderr(`downloaded ${progress.location}: ${formatBytes(progress.receivedBytes)} in ${seconds.toFixed(1)} s\n`);
      return;
    }
    if (!progress.done && now - drawnAt < REDRAW_MILLISECONDS) return;
    drawnAt = now;
    io.stderr(`\r\u001b[2K${progressLine(progress, seconds)}${progress.done ? "\n" : ""}`);
  };
}

/** `model.onnx [##########--------------]  42%  1.2 MiB / 2.9 MiB  3.1 MiB/s` */
export function progressLine(progress: Pick<FetchProgress, "location" | "receivedBytes" | "totalBytes">, seconds: number): string {
  const name = progress.location.split(/[/\\]/).pop() || progress.location;
  const rate = `${formatBytes(progress.receivedBytes / seconds)}/s`;
  if (progress.totalBytes === undefined || progress.totalBytes === 0) return `${name}  ${formatBytes(progress.receivedBytes)}  ${rate}`;
  const fraction = Math.min(progress.receivedBytes / progress.totalBytes, 1);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
  return `${name} ${bar} ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(progress.receivedBytes)} / ${formatBytes(progress.totalBytes)}  ${rate}`;
}

/** A spinner with elapsed seconds while waiting on the server (terminal only); returns its stop function. */
export function spinner(io: Io, text: string): () => void {
  if (!io.stderrIsTty) return () => undefined;
  const startedAt = performance.now();
  let frame = 0;
  const draw = () => io.stderr(`\r\u001b[2K${SPINNER_FRAMES[frame++ % SPINNER_FRAMES.length]} ${text} ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
  draw();
  const timer = setInterval(draw, REDRAW_MILLISECONDS * 2);
  return () => {
    clearInterval(timer);
    io.stderr("\r\u001b[2K");
  };
}
