/**
 * One line of requests waiting for turns: a heap ordered by (priority, arrival), a count of turns
 * given and not yet ended, and a rule saying whether there is room for one more. Turns are handed
 * out one per turn of the event loop, so that whatever a turn lets a request do (read its body,
 * parse it) never runs back to back for many requests while sockets go unread. The admission gate
 * (admission-gate.ts) is two of these.
 */
import { BinaryHeap, schedulingKey } from "../scheduler/heap.ts";
import type { Priority } from "./priority.ts";

/**
 * A turn given: `done` must be called once its request no longer needs it (idempotent; the
 * inference service calls it after queuing, the transport once the response is sent, whatever
 * happened in between).
 */
export interface Turn {
  done(): void;
}

interface Waiter {
  admit: () => void;
  waiting: boolean;
}

export class TurnQueue {
  private readonly waiters = new BinaryHeap<Waiter>();
  private sequence = 0;
  /** Turns given and not yet ended. */
  pending = 0;
  private pumpScheduled = false;

  /** `hasRoom` is asked before every turn is given; `pending` is already counted in what it sees. */
  constructor(private readonly hasRoom: () => boolean) {}

  /** A turn at once when nobody waits and there is room, else a promise of one (rejects only when `signal` aborts first). */
  take(priority: Priority, signal?: AbortSignal): Turn | Promise<Turn> {
    if (this.waiters.size === 0 && this.hasRoom()) return this.give();
    return new Promise<Turn>((resolve, reject) => {
      const waiter: Waiter = {
        waiting: true,
        admit: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.give());
        },
      };
      const onAbort = () => {
        waiter.waiting = false;
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(schedulingKey(priority, this.sequence++), waiter);
    });
  }

  /** Gives every waiting request its turn now (shutdown, or the model was removed: they answer with the error). */
  releaseAll(): void {
    for (let waiter = this.waiters.pop(); waiter; waiter = this.waiters.pop()) if (waiter.waiting) waiter.admit();
  }

  /** Hands out turns while there is room, one per turn of the event loop; call whenever room may have appeared. */
  pump(): void {
    if (this.pumpScheduled || this.waiters.size === 0) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.admitNext();
    });
  }

  private admitNext(): void {
    while (this.waiters.size > 0 && this.hasRoom()) {
      const waiter = this.waiters.pop()!;
      if (!waiter.waiting) continue;
      waiter.admit();
      this.pump();
      return;
    }
  }

  private give(): Turn {
    this.pending++;
    let open = true;
    return {
      done: () => {
        if (!open) return;
        open = false;
        this.pending--;
        this.pump();
      },
    };
  }
}
