/** Process checks for tests that watch workers come and go (Linux /proc). */
import { readdirSync, readFileSync } from "node:fs";

/**
 * True while `pid` names a live process. A zombie (exited, not yet reaped by a parent this test
 * does not control, e.g. an orphan under a container init that never reaps) counts as gone.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Pids of `pid`'s child processes (its workers), from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, "utf8")
      .split(" ")
      .filter((word) => word.trim() !== "")
      .map(Number),
  );
}
