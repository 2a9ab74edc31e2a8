/**
 * The flow-control policy of the one bidirectional-stream helper (src/api/grpc/bidi-stream.ts),
 * with an injected stand-in for a grpc-js duplex call whose answers the test settles by hand:
 * reading stops at the pending cap and when the write side is full, and resumes when both clear;
 * the stream ends once the client has half-closed and every answer is written.
 * tests/integration/grpc-stream-limits.test.ts runs the same helper over real sockets.
 */
import { describe, expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { Metadata, type ServerDuplexStream } from "@grpc/grpc-js";
import pino from "pino";
import { serveBidiStream } from "../../src/api/grpc/bidi-stream.ts";

/** What serveBidiStream uses of a call; `writable` says whether the write side takes more. */
class FakeCall extends EventEmitter {
  metadata = new Metadata();
  cancelled = false;
  paused = false;
  ended = false;
  writable = true;
  written: string[] = [];
  getPath = () => "/test.Service/Stream";
  getDeadline = () => Infinity;
  write(message: string): boolean {
    this.written.push(message);
    return this.writable;
  }
  pause() {
    this.paused = true;
    return this;
  }
  resume() {
    this.paused = false;
    return this;
  }
  end() {
    this.ended = true;
  }
  /** A message from the client; a paused stream would not deliver it, so that is a test failure. */
  send(message: string) {
    if (this.paused) throw new Error(`message ${message} delivered while reading is paused`);
    this.emit("data", message);
  }
}

function serve(maxPendingPerStream: number) {
  const call = new FakeCall();
  const answers = new Map<string, (answer: string) => void>();
  const state = serveBidiStream(call as unknown as ServerDuplexStream<string, string>, {
    answer: (request) => new Promise<string>((resolve) => answers.set(request, resolve)),
    maxPendingPerStream,
    logger: pino({ level: "silent" }),
  });
  /** Settles the answer of `request` and lets the helper's reactions run. */
  const settle = async (request: string) => {
    answers.get(request)!(`answer ${request}`);
    await Bun.sleep(0);
  };
  return { call, state, settle };
}

describe("bidirectional stream flow control", () => {
  test("reading stops once maxPendingPerStream requests are unanswered and resumes when one is answered", async () => {
    const { call, state, settle } = serve(3);
    call.send("a");
    call.send("b");
    expect(call.paused).toBe(false);
    call.send("c");
    expect(state.pending).toBe(3);
    expect(call.paused).toBe(true);

    await settle("b");
    expect(call.written).toEqual(["answer b"]);
    expect(state.pending).toBe(2);
    expect(call.paused).toBe(false);
    call.send("d");
    expect(call.paused).toBe(true);
  });

  test("a full write side stops reading below the cap; 'drain' resumes it", async () => {
    const { call, settle } = serve(10);
    call.send("a");
    call.send("b");
    call.writable = false;
    await settle("a");
    expect(call.paused).toBe(true);
    call.writable = true;
    call.emit("drain");
    expect(call.paused).toBe(false);
    await settle("b");
    expect(call.written).toEqual(["answer a", "answer b"]);
  });

  test("with a full write side, an answer going out does not resume reading before 'drain'", async () => {
    const { call, settle } = serve(1);
    call.send("a");
    expect(call.paused).toBe(true);
    call.writable = false;
    await settle("a");
    expect(call.paused).toBe(true);
    call.emit("drain");
    expect(call.paused).toBe(false);
  });

  test("the stream ends once the client has half-closed and every answer is written, not before", async () => {
    const { call, settle } = serve(4);
    call.send("a");
    call.send("b");
    call.emit("end");
    await settle("a");
    expect(call.ended).toBe(false);
    await settle("b");
    expect(call.ended).toBe(true);
    expect(call.written).toEqual(["answer a", "answer b"]);
  });
});
