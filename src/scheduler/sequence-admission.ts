/**
 * Admission of generation sequences to one model's decoding loop (txt2txt continuous batching): at
 * most `capacity` sequences run at once (the model's `maxConcurrentSequences`); the rest wait in a
 * heap ordered by priority then arrival (1 = highest, FIFO within a level), as inference
 * requests do. A slot freed by a finished sequence goes to the best waiting one; a waiter whose
 * signal aborts or whose deadline passes leaves the queue. Only this class touches its heap.
 *
 * @example
 * const admission = new SequenceAdmission(8);
 * const release = await admission.admit(2, { signal, deadlineAtMilliseconds });
 * try { … decode … } finally { release(); }
 */
import { ModelMoraError } from "../errors.ts";
import { PriorityHeap, schedulingKey } from "./heap.ts";

interface Waiter {
  admit: () => void;
  settled: boolean;
}

export class SequenceAdmission {
  private running = 0;
  private arrivals = 0;
  private readonly waiting = new PriorityHeap<Waiter>();

  /** `onChange` sees the counts after every admission, release and departure (metrics gauges). */
  constructor(
    private capacity: number,
    private readonly onChange?: (stats: { running: number; waiting: number }) => void,
  ) {}

  /** Sequences running now, and waiting. */
  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.size };
  }

  /** The model's config changed: a larger capacity admits waiters at once. */
  setCapacity(capacity: number): void {
    this.capacity = capacity;
    this.pump();
  }

  /**
   * Resolves with a release function once the sequence may run; rejects with CANCELLED when
   * `signal` aborts, INFERENCE_TIMEOUT when the deadline passes first.
   */
  admit(priority: number, options: { signal?: AbortSignal; deadlineAtMilliseconds?: number } = {}): Promise<() => void> {
    const release = this.releaser();
    if (this.running < this.capacity && this.waiting.size === 0) {
      this.running++;
      this.changed();
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => leave(new ModelMoraError("CANCELLED", "the client went away before the sequence started"));
      const waiter: Waiter = {
        settled: false,
        admit: () => {
          waiter.settled = true;
          cleanup();
          resolve(release);
        },
      };
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      };
      const leave = (error: Error) => {
        if (waiter.settled) return;
        waiter.settled = true;
        cleanup();
        this.waiting.removeWhere((candidate) => candidate === waiter);
        this.changed();
        reject(error);
      };
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.deadlineAtMilliseconds !== undefined) {
        timer = setTimeout(
          () => leave(new ModelMoraError("INFERENCE_TIMEOUT", "the deadline passed while the sequence waited for a free slot")),
          Math.max(0, options.deadlineAtMilliseconds - Date.now()),
        );
      }
      this.waiting.push(schedulingKey(priority, this.arrivals++), waiter);
      this.changed();
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.pump();
      this.changed();
    };
  }

  private changed(): void {
    this.onChange?.(this.stats);
  }

  private pump(): void {
    while (this.running < this.capacity) {
      const next = this.waiting.pop();
      if (!next) return;
      if (next.settled) continue;
      this.running++;
      next.admit();
      this.changed();
    }
  }
}
