/**
 * One line of requests waiting for turns: a heap ordered by (priority, arrival), the turns given and
 * not yet ended (counted, and weighed: a body's bytes, say), and a rule saying whether there is room
 * for one more of a given weight. Turns are handed
 * out one per turn of the event loop, so that whatever a turn lets a request do (read its body,
 * parse it) never runs back to back for many requests while sockets go unread. The admission gate
 * (admission-gate.ts) is two of these.
 */
import { PriorityHeap, schedulingKey } from "../scheduler/heap.ts";
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
  weight: number;
  priority: Priority;
}

export class TurnQueue {
  private readonly waiters = new PriorityHeap<Waiter>();
  private sequence = 0;
  /** Turns given and not yet ended. */
  pending = 0;
  /** The weights of those turns, summed. */
  pendingWeight = 0;
  private pumpScheduled = false;

  /** `hasRoom(weight, priority)` is asked before every turn is given, with `pending` and `pendingWeight` as they are before it. */
  constructor(private readonly hasRoom: (weight: number, priority: Priority) => boolean) {}

  /** A turn at once when nobody waits and there is room, else a promise of one (rejects only when `signal` aborts first). */
  take(priority: Priority, signal?: AbortSignal, weight = 0): Turn | Promise<Turn> {
    if (this.waiters.size === 0 && this.hasRoom(weight, priority)) return this.give(weight);
    return new Promise<Turn>((resolve, reject) => {
      const waiter: Waiter = {
        waiting: true,
        weight,
        priority,
        admit: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.give(weight));
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

  /** Admits the first waiter if there is room for it (never one behind it: the order holds). */
  private admitNext(): void {
    for (let waiter = this.waiters.peek(); waiter; waiter = this.waiters.peek()) {
      if (!waiter.waiting) {
        this.waiters.pop();
        continue;
      }
      if (!this.hasRoom(waiter.weight, waiter.priority)) return;
      this.waiters.pop();
      waiter.admit();
      this.pump();
      return;
    }
  }

  private give(weight: number): Turn {
    this.pending++;
    this.pendingWeight += weight;
    let open = true;
    return {
      done: () => {
        if (!open) return;
        open = false;
        this.pending--;
        this.pendingWeight -= weight;
        this.pump();
      },
    };
  }
}
