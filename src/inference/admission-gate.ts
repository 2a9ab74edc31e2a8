/**
 * Reading and parsing request bodies in priority order under overload. Parsing a large JSON body
 * costs the server's event loop about as much as running the request, so when a flood of LOW
 * requests is already queued, parsing the rest of the flood before a CRITICAL request that arrived
 * after it delays the CRITICAL one by the whole flood. A transport asks for two turns per request,
 * in order:
 *
 * 1. a **read turn** before it reads the body: given while the bodies read and not yet queued weigh
 *    at most `readAheadBytes` (their declared lengths; one body at least), by (priority, arrival).
 *    Reading ahead costs only I/O and keeps bodies flowing off their sockets, so a CRITICAL
 *    request's bytes are not held up behind a crowd of half-sent LOW bodies; the budget bounds the
 *    memory a flood can hold (a body left unread stays on its socket);
 * 2. a **parse turn** once its bytes are in: one body at a time, by (priority, arrival), and only
 *    while the model's queue holds fewer than `depthLimit` requests, so LOW bodies are parsed into
 *    shared memory only as fast as the model drains them, and every body parsed ahead of a CRITICAL
 *    one is at most the one being parsed when it arrived.
 *
 * Turns of either kind are handed out one per turn of the event loop, so sockets are read between
 * two parses. Both turns end once the request is queued (or has failed). CRITICAL requests never
 * wait for either.
 *
 * While a more urgent request is still reading its body, less urgent ones get no parse turn (for
 * at most URGENT_READ_HOLD_MILLISECONDS from the start of that read): Bun reads a socket a chunk per
 * event-loop turn, and a turn that also parses a 520 kB LOW body takes a millisecond or two, so a
 * CRITICAL body that arrived during a flood took 100-300 ms to read while LOW bodies were parsed
 * between its chunks.
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

/** The longest a body still being read holds back the parse turns of less urgent requests. */
export const URGENT_READ_HOLD_MILLISECONDS = 50;

/** Bytes of bodies read ahead of their parse, per model, by default. */
export const DEFAULT_READ_AHEAD_BYTES = 64 * 1024 * 1024;

export class AdmissionGate {
  private readonly reading: TurnQueue;
  private readonly parsing: TurnQueue;
  /** Bodies being read now: their priority and when the read began (performance.now() milliseconds). */
  private readonly readsInProgress = new Set<{ priority: Priority; startedAtMilliseconds: number }>();
  private holdTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    /** Requests now queued for the model. */
    queued: () => number,
    /** How many queued requests keep the model busy; beyond that bodies wait, unparsed, for a turn. */
    private depthLimit: number,
    /** How many bytes of bodies may be read and not yet queued. */
    readAheadBytes = DEFAULT_READ_AHEAD_BYTES,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.reading = new TurnQueue((bytes) => this.reading.pending === 0 || this.reading.pendingWeight + bytes <= readAheadBytes);
    this.parsing = new TurnQueue((_weight, priority) => this.parsing.pending === 0 && queued() < this.depthLimit && !this.heldBack(priority));
  }

  setDepthLimit(depthLimit: number): void {
    this.depthLimit = depthLimit;
    this.pump();
  }

  /** The read turn for a body of `bytes` (its declared length; 0 when unknown), in priority order within the read-ahead budget. */
  turn(priority: Priority, signal?: AbortSignal, bytes = 0): ReadTurn | Promise<ReadTurn> {
    if (priority === Priority.CRITICAL) return this.criticalPass();
    const taken = this.reading.take(priority, signal, bytes);
    return taken instanceof Promise ? taken.then((read) => this.withParse(read, priority)) : this.withParse(taken, priority);
  }

  /** Gives every waiting request its turns now (shutdown, or the model was removed: they answer with the error). */
  releaseAll(): void {
    this.reading.releaseAll();
    this.parsing.releaseAll();
  }

  /** Hands out parse turns while the queue has room; call whenever the queue shrinks. */
  pump(): void {
    this.parsing.pump();
  }

  /** CRITICAL requests wait for nothing, but their reading holds back everyone else's parsing. */
  private criticalPass(): ReadTurn {
    const endRead = this.startRead(Priority.CRITICAL);
    return { done: endRead, parse: () => (endRead(), NO_TURN) };
  }

  private withParse(read: Turn, priority: Priority): ReadTurn {
    const endRead = this.startRead(priority);
    return {
      done: () => {
        endRead();
        read.done();
      },
      parse: (signal) => {
        endRead();
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

  /** Records a body read in progress; the returned function (idempotent) ends it. */
  private startRead(priority: Priority): () => void {
    const read = { priority, startedAtMilliseconds: this.now() };
    this.readsInProgress.add(read);
    return () => {
      if (this.readsInProgress.delete(read)) this.pump();
    };
  }

  /** Whether a more urgent body, read for less than URGENT_READ_HOLD_MILLISECONDS, holds this priority's parsing back. */
  private heldBack(priority: Priority): boolean {
    const now = this.now();
    let latestEndMilliseconds = 0;
    for (const read of this.readsInProgress) {
      if (read.priority < priority) latestEndMilliseconds = Math.max(latestEndMilliseconds, read.startedAtMilliseconds + URGENT_READ_HOLD_MILLISECONDS);
    }
    if (latestEndMilliseconds <= now) return false;
    // Nothing else may pump the queue when the hold runs out: a timer does.
    if (this.holdTimer === undefined) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = undefined;
        this.pump();
      }, latestEndMilliseconds - now);
    }
    return true;
  }
}
