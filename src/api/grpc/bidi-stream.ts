/**
 * The one bidirectional inference stream, behind both KServe's ModelStreamInfer and modelmora.v1's
 * InferStream: each request runs as soon as it is read, concurrently, through the same queues as
 * unary calls, and is answered when it finishes (not in arrival order); a failed request is
 * answered with its error (each API's own shape) and the stream goes on. Every request shares the
 * call's context: a cancelled call (or one past its deadline) drops the stream's queued requests,
 * which never run. The server ends the stream once the client has half-closed and every request
 * has been answered.
 *
 * Flow control — the stream stops reading requests while either holds:
 * - `maxPendingPerStream` requests are read and not yet answered (MODELMORA_GRPC_MAX_PENDING_PER_STREAM);
 * - the write side is full: the client reads answers more slowly than they are produced.
 * It reads again once both clear (an answer goes out; 'drain'). Reading stops rather than refusing
 * the message (no RESOURCE_EXHAUSTED): HTTP/2 flow control then holds the client back, so no
 * request is lost and the server holds at most `maxPendingPerStream` running requests, their
 * answers, and the stream's read and write buffers (16 messages each) per stream.
 */
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "../../observability/logger.ts";
import { GRPC_LIMITS_DEFAULTS } from "../../security/grpc-limits.ts";
import { type CallContext, callContext, messageContext } from "./call-context.ts";
import { reportError } from "./unary.ts";

/** When the server is built without a setting (in-process tests). */
export const DEFAULT_MAX_PENDING_PER_STREAM = GRPC_LIMITS_DEFAULTS.grpcMaxPendingPerStream;

export interface BidiStreamOptions<Request, Response> {
  /** One request's answer, or its error as an answer message: it must not reject. */
  answer: (request: Request, context: CallContext) => Promise<Response>;
  /** Requests read and not yet answered before the stream stops reading. */
  maxPendingPerStream: number;
  logger: Logger;
}

/** What one stream is doing, for tests and logs. */
export interface BidiStreamState {
  pending: number;
  reading: boolean;
}

/**
 * Serves one bidirectional call; returns its live state.
 *
 * @example
 * ModelStreamInfer: (call) => void serveBidiStream(call, { answer, maxPendingPerStream: 64, logger }),
 */
export function serveBidiStream<Request, Response>(call: ServerDuplexStream<Request, Response>, options: BidiStreamOptions<Request, Response>): BidiStreamState {
  const { answer, maxPendingPerStream, logger } = options;
  const method = call.getPath();
  const state: BidiStreamState = { pending: 0, reading: true };
  let context: CallContext;
  try {
    // One context per stream: one abort signal (fired on 'cancelled') for all its requests.
    context = callContext(call);
  } catch (error) {
    // An invalid x-priority fails the whole call: every request on it would inherit it.
    call.emit("error", reportError(logger, method, error));
    return state;
  }

  let clientDone = false;
  let ended = false;
  let writeFull = false;
  const adjustReading = () => {
    const shouldRead = state.pending < maxPendingPerStream && !writeFull;
    if (shouldRead === state.reading || call.cancelled) return;
    state.reading = shouldRead;
    if (shouldRead) call.resume();
    else call.pause();
  };
  const endIfDone = () => {
    if (!clientDone || state.pending > 0 || ended || call.cancelled) return;
    ended = true;
    call.end();
  };
  const send = (response: Response) => {
    // After a cancel the call is destroyed: answers of requests that were already running are dropped.
    if (call.cancelled || ended) return;
    if (!call.write(response) && !writeFull) {
      writeFull = true;
      call.once("drain", () => {
        writeFull = false;
        adjustReading();
      });
    }
  };

  call.on("data", (request: Request) => {
    if (context.signal.aborted) return;
    state.pending++;
    adjustReading();
    void answer(request, messageContext(context, call))
      .then(send)
      .finally(() => {
        state.pending--;
        adjustReading();
        endIfDone();
      });
  });
  call.on("end", () => {
    clientDone = true;
    endIfDone();
  });
  context.signal.addEventListener("abort", () => logger.debug({ event: "infer_stream_cancelled", method, pending: state.pending }, "stream cancelled; its queued requests are dropped"), {
    once: true,
  });
  return state;
}
