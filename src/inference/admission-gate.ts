/**
 * Reading request bodies in priority order under overload. Parsing a large JSON body costs the
 * server's event loop about as much as running the request, so when a flood of LOW requests is
 * already queued, parsing the rest of the flood before a CRITICAL request that arrived after it
 * delays the CRITICAL one by the whole flood. A transport asks for a turn before it parses a body;
 * while a model's queue (plus the requests admitted but not yet queued) holds fewer than
 * `depthLimit` requests, the turn is given at once, else the request waits, unparsed, in a heap
 * ordered by (priority, arrival), and turns are handed out as the queue drains. CRITICAL requests
 * never wait.
 *
 * Only the priority known before parsing counts here (the `x-priority` header, or gRPC metadata);
 * a priority given only inside the body still orders the queue once parsed.
 */
import { BinaryHeap, schedulingKey } from "../scheduler/heap.ts";
import { Priority } from "./priority.ts";

/**
 * A turn given: `done` must be called once the request is queued or has failed (idempotent; the
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

const NO_TURN: Turn = { done: () => undefined };

export class AdmissionGate {
  private readonly waiters = new BinaryHeap<Waiter>();
  private sequence = 0;
  /** Turns given whose requests are not yet queued. */
  private pending = 0;

  constructor(
    /** Requests now queued for the model. */
    private readonly queued: () => number,
    /** How many queued requests keep the model busy; more wait for a turn. */
    private depthLimit: number,
  ) {}

  setDepthLimit(depthLimit: number): void {
    this.depthLimit = depthLimit;
    this.pump();
  }

  /** Resolves when this request may be parsed; rejects only when `signal` aborts first. */
  turn(priority: Priority, signal?: AbortSignal): Turn | Promise<Turn> {
    if (priority === Priority.CRITICAL) return NO_TURN;
    if (this.waiters.size === 0 && this.queued() + this.pending < this.depthLimit) return this.give();
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

  /** Hands out turns while the queue has room; call whenever the queue shrinks. */
  pump(): void {
    while (this.waiters.size > 0 && this.queued() + this.pending < this.depthLimit) {
      const waiter = this.waiters.pop()!;
      if (waiter.waiting) waiter.admit();
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
