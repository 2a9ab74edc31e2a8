/**
 * Parsing request bodies in priority order under overload. Parsing a large JSON body costs the
 * server's event loop about as much as running the request, so when a flood of LOW requests is
 * already queued, parsing the rest of the flood before a CRITICAL request that arrived after it
 * delays the CRITICAL one by the whole flood. A transport reads a body's bytes, then asks for a turn
 * before it parses them. A turn is given at once while the model's queue (plus the requests
 * admitted but not yet queued) holds fewer than `depthLimit` requests and fewer than
 * `parseConcurrency` turns are open; else the request waits, unparsed, in a heap ordered by
 * (priority, arrival), and turns are handed out one per turn of the event loop as the queue drains
 * and open turns end. CRITICAL requests never wait.
 *
 * Why both limits: the queue's depth bounds how much LOW work is queued ahead of later requests
 * (the scheduler orders the queue by priority, so that costs a CRITICAL request little), while the
 * open turns bound how many bodies are parsed ahead of a CRITICAL request that has just arrived:
 * every body admitted is parsed before the event loop comes back to anything else, so admitting a
 * batch's worth at once would make the CRITICAL request wait for all of them.
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

/** Turns open at once by default: JavaScript parses one body at a time anyway. */
export const DEFAULT_PARSE_CONCURRENCY = 1;

export class AdmissionGate {
  private readonly waiters = new BinaryHeap<Waiter>();
  private sequence = 0;
  /** Turns given whose requests are not yet queued. */
  private pending = 0;
  private pumpScheduled = false;

  constructor(
    /** Requests now queued for the model. */
    private readonly queued: () => number,
    /** How many queued requests keep the model busy; more wait for a turn. */
    private depthLimit: number,
    /** How many turns may be open (bodies being parsed and placed) at once. */
    private readonly parseConcurrency = DEFAULT_PARSE_CONCURRENCY,
  ) {}

  setDepthLimit(depthLimit: number): void {
    this.depthLimit = depthLimit;
    this.pump();
  }

  /** Resolves when this request may be parsed; rejects only when `signal` aborts first. */
  turn(priority: Priority, signal?: AbortSignal): Turn | Promise<Turn> {
    if (priority === Priority.CRITICAL) return NO_TURN;
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

  /**
   * Hands out turns while there is room; call whenever the queue shrinks. One turn per turn of the
   * event loop, so sockets (a CRITICAL request's body among them) are read between two parses.
   */
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

  private hasRoom(): boolean {
    return this.pending < this.parseConcurrency && this.queued() + this.pending < this.depthLimit;
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
