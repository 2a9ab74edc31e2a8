/**
 * StreamInference: one request whose outputs come back as raw bytes in ordered chunks, for outputs
 * larger than one gRPC message may be. First a header (model, version, id, each output's name,
 * datatype, shape and byte size), then chunks of at most `chunk_size_bytes`, output by output, in
 * offset order; then the stream ends. A chunk is a view into the output, not a copy.
 *
 * Writes respect backpressure: when the client reads slowly the handler waits for 'drain', so at
 * most the stream's write buffer (16 messages) is held beyond the output itself. A cancelled call
 * stops the sending at the next chunk.
 */
import type { handleServerStreamingCall, ServerWritableStream } from "@grpc/grpc-js";
import { invalidInput } from "../../../errors.ts";
import { toRawBytes } from "../../../inference/raw-tensor.ts";
import type { InferenceService, TensorInferenceResponse } from "../../../inference/service.ts";
import type { Logger } from "../../../observability/logger.ts";
import { callContext } from "../call-context.ts";
import { type InferRequestMessage, toInferenceRequest } from "./infer-request.ts";
import { reportError } from "../unary.ts";

const MEBIBYTE = 1024 * 1024;

/** Chunk size when the request names none: small enough for any client's default 4 MiB receive limit. */
export const DEFAULT_CHUNK_SIZE_BYTES = MEBIBYTE;

/**
 * Largest chunk a request may ask for. Bigger chunks mean fewer messages (less per-message
 * overhead) but more memory per buffered message and a larger receive limit on the client; 4 MiB
 * keeps every message far below the server's 64 MiB message limit.
 */
export const MAX_CHUNK_SIZE_BYTES = 4 * MEBIBYTE;

export type StreamInferenceResponseMessage =
  | { header: { model_name: string; model_version: string; id: string; outputs: { name: string; datatype: string; shape: string[]; byte_size: number }[] } }
  | { chunk: { output_index: number; offset: number; data: Buffer } };

type Call = ServerWritableStream<InferRequestMessage, StreamInferenceResponseMessage>;

export function streamInference(inference: InferenceService, logger: Logger): handleServerStreamingCall<InferRequestMessage, StreamInferenceResponseMessage> {
  return (call) => {
    send(call).catch((error: unknown) => {
      if (!call.cancelled) call.emit("error", reportError(logger, call.getPath(), error));
    });
  };

  async function send(call: Call): Promise<void> {
    const message = call.request;
    const chunkSizeBytes = chunkSizeOf(message.chunk_size_bytes);
    // The outputs are lent from shared memory until every chunk is written: no copy of a large output.
    await inference.withTensors(toInferenceRequest(message, callContext(call)), (response) => sendOutputs(call, response, chunkSizeBytes));
  }

  async function sendOutputs(call: Call, response: TensorInferenceResponse, chunkSizeBytes: number): Promise<void> {
    const outputs = response.outputs.map((tensor) => ({ tensor, bytes: toRawBytes(tensor) }));
    const header = {
      model_name: response.model_name,
      model_version: response.model_version,
      id: response.id ?? "",
      outputs: outputs.map(({ tensor, bytes }) => ({ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape.map(String), byte_size: bytes.byteLength })),
    };
    const totalChunks = outputs.reduce((total, { bytes }) => total + Math.ceil(bytes.byteLength / chunkSizeBytes), 0);
    let chunksSent = 0;
    let open = await write(call, { header });
    for (let outputIndex = 0; open && outputIndex < outputs.length; outputIndex++) {
      const { bytes } = outputs[outputIndex]!;
      for (let offset = 0; open && offset < bytes.byteLength; offset += chunkSizeBytes) {
        const length = Math.min(chunkSizeBytes, bytes.byteLength - offset);
        const data = Buffer.from(bytes.buffer, bytes.byteOffset + offset, length);
        open = await write(call, { chunk: { output_index: outputIndex, offset, data } });
        if (open) chunksSent++;
      }
    }
    if (!open) {
      logger.info({ event: "stream_inference_cancelled", model: response.model_name, id: response.id, chunksSent, totalChunks }, "client cancelled; stopped sending chunks");
      return;
    }
    call.end();
  }
}

/**
 * Writes one message; resolves true once the stream can take more (at once, or after 'drain'),
 * false when the call is cancelled (nothing more may be written).
 */
function write(call: Call, message: StreamInferenceResponseMessage): Promise<boolean> {
  if (call.cancelled) return Promise.resolve(false);
  if (call.write(message)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (open: boolean) => () => {
      call.off("drain", onDrain);
      call.off("cancelled", onCancelled);
      call.off("close", onCancelled);
      resolve(open && !call.cancelled);
    };
    const onDrain = settle(true);
    const onCancelled = settle(false);
    call.on("drain", onDrain);
    call.on("cancelled", onCancelled);
    call.on("close", onCancelled);
  });
}

function chunkSizeOf(requested: number): number {
  if (requested === 0) return DEFAULT_CHUNK_SIZE_BYTES;
  if (requested > MAX_CHUNK_SIZE_BYTES) {
    throw invalidInput(`chunk_size_bytes must be at most ${MAX_CHUNK_SIZE_BYTES} (4 MiB), got ${requested}`, { field: "chunk_size_bytes" });
  }
  return requested;
}
