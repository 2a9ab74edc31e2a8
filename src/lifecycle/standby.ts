/**
 * Warm standby workers: processes spawned ahead of need, with onnxruntime already imported, waiting
 * for a `load`. Taking one leaves a model load paying only for its session (and its warm-up, when
 * configured); a taken worker is replaced in the background, after a pause so that the replacement's
 * start-up does not compete with the load that took it. Standby workers count in the memory budget
 * (the pool adds `residentBytes`).
 *
 * `count` 0 turns this off: `spawn` then starts a fresh process each time.
 */
import type { ProbeMemory } from "./memory-probe.ts";
import type { SpawnWorker, WorkerHandle } from "./worker-process.ts";

/** Pause between taking a standby worker and starting its replacement. */
const REPLACE_DELAY_MILLISECONDS = 1_000;

export class StandbyWorkers {
  private readonly waiting: WorkerHandle[] = [];
  private replaceTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly spawnFresh: SpawnWorker,
    private readonly count: number,
    private readonly probeMemory: ProbeMemory,
    private readonly replaceDelayMilliseconds = REPLACE_DELAY_MILLISECONDS,
  ) {
    this.fill();
  }

  /**
   * A standby worker when one is alive, else a fresh one; the pool's `spawnWorker`. `label` names
   * the model on a fresh worker's command line; a standby worker was started before its model was
   * known, so its command line names none (`/api/v1/status` maps pids to models).
   */
  readonly spawn: SpawnWorker = (label) => {
    let worker: WorkerHandle | undefined;
    while ((worker = this.waiting.shift())) {
      if (this.probeMemory(worker.pid) !== undefined) break; // still running
    }
    this.scheduleReplacement();
    return worker ?? this.spawnFresh(label);
  };

  /** Resident memory of the workers waiting. */
  residentBytes(): number {
    return this.waiting.reduce((total, worker) => total + (this.probeMemory(worker.pid) ?? 0), 0);
  }

  get pids(): number[] {
    return this.waiting.map((worker) => worker.pid);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.replaceTimer);
    const waiting = this.waiting.splice(0);
    await Promise.all(waiting.map((worker) => worker.terminate()));
  }

  private scheduleReplacement(): void {
    if (this.closed || this.count === 0 || this.replaceTimer) return;
    this.replaceTimer = setTimeout(() => {
      this.replaceTimer = undefined;
      this.fill();
    }, this.replaceDelayMilliseconds);
    this.replaceTimer.unref();
  }

  private fill(): void {
    while (!this.closed && this.waiting.length < this.count) {
      const worker = this.spawnFresh();
      this.waiting.push(worker);
      // A standby worker that dies is dropped; the next take spawns a fresh one and refills.
      void worker.exited.then(() => {
        const index = this.waiting.indexOf(worker);
        if (index >= 0) this.waiting.splice(index, 1);
      });
    }
  }
}
