/**
 * Reading and parsing request bodies in priority order under overload. Parsing a large JSON body
 * costs the server's event loop about as much as running the request, and reading it costs the
 * loop's I/O, so when a flood of LOW requests is already queued, handling the rest of the flood
 * before a CRITICAL request that arrived after it delays the CRITICAL one by the whole flood. A
 * transport asks for two turns per request, in order:
 *
 * 1. a **read turn** before it reads the body: given at once while the model's queue (plus the
 *    requests holding read turns, not yet queued) holds fewer than `depthLimit` requests; beyond
 *    that the request waits, its body left unread on its socket (Bun then stops reading it), in a
 *    heap ordered by (priority, arrival), and read turns are handed out as the queue drains;
 * 2. a **parse turn** once its bytes are in: at most `parseConcurrency` at once (one by default),
 *    by (priority, arrival). Without this limit every body read while the queue was short would be
 *    parsed, in arrival order, before a CRITICAL body that arrived after them.
 *
 * Turns of either kind are handed out one per turn of the event loop, so sockets (a CRITICAL
 * request's among them) are read between two parses. Both turns end once the request is queued (or
 * has failed). CRITICAL requests never wait for either.
 *
 * Only the priority known before parsing counts here (the `x-priority` header, or gRPC metadata);
 * a priority given only inside the body still orders the queue once parsed.
 */
import { Priority } from "./priority.ts";
import { type Turn, TurnQueue } from "./turn-queue.ts";

export type { Turn } from "./turn-queue.ts";

/** A read turn; `parse` waits for the parse turn, and the turn it gives ends both. */
export interface ReadTurn extends Turn {
  parse(signal?: AbortSignal): Turn | Promise<Turn>;
}

const NO_TURN: Turn = { done: () => undefined };

/** A request that never waits (CRITICAL, or an unknown model whose request will answer with the error). */
export const FREE_PASS: ReadTurn = { done: () => undefined, parse: () => NO_TURN };

/** Bodies parsed at once by default: JavaScript parses one at a time anyway. */
export const DEFAULT_PARSE_CONCURRENCY = 1;

export class AdmissionGate {
  private readonly reading: TurnQueue;
  private readonly parsing: TurnQueue;

  constructor(
    /** Requests now queued for the model. */
    queued: () => number,
    /** How many queued requests keep the model busy; beyond that bodies wait, unread, for a turn. */
    private depthLimit: number,
    /** How many bodies may be parsed (and placed and queued) at once. */
    parseConcurrency = DEFAULT_PARSE_CONCURRENCY,
  ) {
    this.reading = new TurnQueue(() => queued() + this.reading.pending < this.depthLimit);
    this.parsing = new TurnQueue(() => this.parsing.pending < parseConcurrency);
  }

  setDepthLimit(depthLimit: number): void {
    this.depthLimit = depthLimit;
    this.pump();
  }

  /** The read turn: at once while the queue is short, else in priority order as it drains. */
  turn(priority: Priority, signal?: AbortSignal): ReadTurn | Promise<ReadTurn> {
    if (priority === Priority.CRITICAL) return FREE_PASS;
    const taken = this.reading.take(priority, signal);
    return taken instanceof Promise ? taken.then((read) => this.withParse(read, priority)) : this.withParse(taken, priority);
  }

  /** Gives every waiting request its turns now (shutdown, or the model was removed: they answer with the error). */
  releaseAll(): void {
    this.reading.releaseAll();
    this.parsing.releaseAll();
  }

  /** Hands out read turns while the queue has room; call whenever the queue shrinks. */
  pump(): void {
    this.reading.pump();
  }

  private withParse(read: Turn, priority: Priority): ReadTurn {
    return {
      done: () => read.done(),
      parse: (signal) => {
        const both = (parse: Turn): Turn => ({
          done: () => {
            parse.done();
            read.done();
          },
        });
        const taken = this.parsing.take(priority, signal);
        return taken instanceof Promise ? taken.then(both) : both(taken);
      },
    };
  }
}
