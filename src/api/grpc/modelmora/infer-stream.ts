/**
 * InferStream: many requests on one bidirectional call. Each request is queued as it arrives and
 * answered as soon as it finishes (not in arrival order), tagged with its id; a failed request is
 * answered with its error and the stream goes on. Every request shares the call's cancellation: a
 * cancelled call (or one past its deadline) drops the stream's queued requests, which never run.
 * The server ends the stream once the client has half-closed and every request has been answered.
 *
 * Flow control: when the client reads answers more slowly than they are produced, the write
 * buffer fills; the stream then stops reading requests until it drains, so HTTP/2 flow control
 * holds the client back instead of answers piling up in server memory.
 */
import type { handleBidiStreamingCall } from "@grpc/grpc-js";
import type { InferenceService } from "../../../inference/service.ts";
import type { Logger } from "../../../observability/logger.ts";
import { type CallContext, callContext, remainingMicroseconds } from "../call-context.ts";
import { type InferRequestMessage, type InferResponseMessage, isRawRequest, type RequestScope, toInferenceRequest, toInferResponse } from "./infer-request.ts";
import { errorMessage, reportError } from "./rpc-errors.ts";

export interface InferStreamResponseMessage {
  id: string;
  response?: InferResponseMessage;
  error?: { code: string; message: string; details_json: string };
}

export function inferStream(inference: InferenceService, logger: Logger): handleBidiStreamingCall<InferRequestMessage, InferStreamResponseMessage> {
  return (call) => {
    const method = call.getPath();
    let context: CallContext;
    try {
      context = callContext(call);
    } catch (error) {
      // An invalid x-priority fails the whole call: every request on it would inherit it.
      call.emit("error", reportError(logger, method, error));
      return;
    }
    // The call's deadline bounds every request on it; each gets the time left when it arrives.
    const scope = (): RequestScope => ({ priority: context.priority, signal: context.signal, timeoutMicroseconds: remainingMicroseconds(call), trace: context.trace });

    let pending = 0;
    let clientDone = false;
    let awaitingDrain = false;
    const endIfDone = () => {
      if (clientDone && pending === 0 && !call.cancelled) call.end();
    };
    const send = (response: InferStreamResponseMessage) => {
      // After a cancel the call is destroyed: answers of requests that were already running are dropped.
      if (call.cancelled) return;
      if (!call.write(response) && !awaitingDrain) {
        awaitingDrain = true;
        call.pause();
        call.once("drain", () => {
          awaitingDrain = false;
          call.resume();
        });
      }
    };
    const answer = async (message: InferRequestMessage): Promise<InferStreamResponseMessage> => {
      try {
        const response = await inference.inferTensors(toInferenceRequest(message, scope()));
        return { id: message.id, response: toInferResponse(response, isRawRequest(message)) };
      } catch (error) {
        return { id: message.id, error: errorMessage(logger, method, error) };
      }
    };

    call.on("data", (message: InferRequestMessage) => {
      if (context.signal.aborted) return;
      pending++;
      void answer(message)
        .then(send)
        .finally(() => {
          pending--;
          endIfDone();
        });
    });
    call.on("end", () => {
      clientDone = true;
      endIfDone();
    });
    context.signal.addEventListener("abort", () => logger.debug({ event: "infer_stream_cancelled", method, pending }, "stream cancelled; its queued requests are dropped"), {
      once: true,
    });
  };
}
