/**
 * The StreamInference baseline: a bare grpc-js server that implements
 * `modelmora.v1.InferenceService/StreamInference` (same proto, same messages, same loader options as
 * ModelMora) by streaming `--bytes` bytes of one preallocated Buffer: a header, then chunks of the
 * request's `chunk_size_bytes` (0 = 1 MiB), each a view into the Buffer, written with the same
 * backpressure rule ModelMora uses (wait for 'drain' when `write` returns false). No model, no
 * inference, no worker: what is left is grpc-js itself, the limit for ModelMora's streaming.
 *
 * Usage: bun bench/baselines/grpc-stream-server.ts --bytes 67108864 [--host 127.0.0.1] [--port 0]
 * Prints one JSON line when listening: {"event":"listening","grpc_port":…}.
 */
import { type ServerWritableStream, type ServiceDefinition, Server, ServerCredentials, status } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";

const MEBIBYTE = 1024 * 1024;
/** As ModelMora's gRPC server (its default --grpc-max-message-mb 64). */
const MAX_MESSAGE_BYTES = 64 * MEBIBYTE;
/** As ModelMora: requests may not ask for more. */
const MAX_CHUNK_SIZE_BYTES = 4 * MEBIBYTE;

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const totalBytes = Number(flag("--bytes", String(64 * MEBIBYTE)));
const host = flag("--host", "127.0.0.1");
const port = Number(flag("--port", "0"));
if (!Number.isInteger(totalBytes) || totalBytes <= 0) throw new Error(`--bytes must be a positive whole number, got ${flag("--bytes", "")}`);

// Non-zero content, so nothing downstream can shortcut on zero pages; preallocated once, never copied.
const payload = Buffer.alloc(totalBytes);
for (let index = 0; index < totalBytes; index += 4096) payload[index] = index & 0xff;
const elements = totalBytes / 4;

interface StreamRequest {
  id: string;
  chunk_size_bytes: number;
}

type Message =
  | { header: { model_name: string; model_version: string; id: string; outputs: { name: string; datatype: string; shape: string[]; byte_size: number }[] } }
  | { chunk: { output_index: number; offset: number; data: Buffer } };
type Call = ServerWritableStream<StreamRequest, Message>;

function write(call: Call, message: Message): Promise<boolean> {
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

async function streamInference(call: Call): Promise<void> {
  const chunkSize = call.request.chunk_size_bytes || MEBIBYTE;
  if (chunkSize > MAX_CHUNK_SIZE_BYTES) {
    call.emit("error", { code: status.INVALID_ARGUMENT, details: `chunk_size_bytes must be at most ${MAX_CHUNK_SIZE_BYTES}` });
    return;
  }
  const header = {
    model_name: "bare-grpc-js",
    model_version: "1",
    id: call.request.id,
    outputs: [{ name: "y", datatype: "FP32", shape: [String(elements)], byte_size: totalBytes }],
  };
  let open = await write(call, { header });
  for (let offset = 0; open && offset < totalBytes; offset += chunkSize) {
    const data = payload.subarray(offset, Math.min(offset + chunkSize, totalBytes));
    open = await write(call, { chunk: { output_index: 0, offset, data } });
  }
  if (open) call.end();
}

const { definition } = loadProtos(["modelmora/v1/inference.proto"]);
const server = new Server({ "grpc.max_receive_message_length": MAX_MESSAGE_BYTES, "grpc.max_send_message_length": MAX_MESSAGE_BYTES });
// Only StreamInference is implemented; grpc-js answers the others UNIMPLEMENTED.
server.addService(definition["modelmora.v1.InferenceService"] as ServiceDefinition, {
  StreamInference: (call: Call) => void streamInference(call).catch((error: unknown) => call.emit("error", { code: status.INTERNAL, details: String(error) })),
});
const boundPort = await new Promise<number>((resolve, reject) =>
  server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);
process.stdout.write(`${JSON.stringify({ event: "listening", grpc_port: boundPort, bytes: totalBytes })}\n`);

const shutdown = () => server.tryShutdown(() => process.exit(0));
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
