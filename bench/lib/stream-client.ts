/**
 * The StreamInference client, run by `bun` as its own process (never sharing an event loop with the
 * bench or a server under test). It calls `modelmora.v1.InferenceService/StreamInference` on each
 * target with each chunk size, interleaved (repetition 1: every target × chunk size, then
 * repetition 2, …) after one untimed warm-up call per pair, and times every call:
 *
 * - total: from the call's start to the last chunk's arrival (what a caller waits);
 * - header: from the call's start to the header's arrival (the server's work before it can stream:
 *   for ModelMora the inference, the output's trip from the worker and its raw encoding);
 * - streaming = total − header: the chunks alone.
 *
 * Every call must deliver exactly `expectedBytes` in order (chunk offsets contiguous from 0) and end
 * with status OK. A chunk's bytes are counted, not copied; the warm-up call of a target with
 * `verify: true` copies them and checks that flat element k of the output is k (the bench's model).
 *
 * Usage: bun bench/lib/stream-client.ts '{"targets":[{"label":…,"address":…,"verify":true}],"model":…,
 *   "input":{"name":"x","shape":[1,1024]},"chunkSizes":[1048576],"repetitions":5,"expectedBytes":67108864}'
 * Prints one JSON line: { calls: [{ label, chunkSizeBytes, totalMilliseconds, headerMilliseconds, bytes, chunks }] }.
 */
import { type Client, type ClientReadableStream, type GrpcObject, type ServiceClientConstructor, credentials } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";

interface Target {
  label: string;
  address: string;
  /** Check the warm-up call's values (the bench model's output element k equals k). */
  verify?: boolean;
}

interface Spec {
  targets: Target[];
  model: string;
  input: { name: string; shape: number[] };
  chunkSizes: number[];
  repetitions: number;
  expectedBytes: number;
}

export interface StreamCall {
  label: string;
  chunkSizeBytes: number;
  totalMilliseconds: number;
  headerMilliseconds: number;
  bytes: number;
  chunks: number;
}

interface Part {
  header?: { outputs: { byte_size: string }[] };
  chunk?: { output_index: number; offset: string; data: Buffer };
}

type InferenceClient = Client & { StreamInference(request: object): ClientReadableStream<Part> };

const spec = JSON.parse(process.argv[2] ?? "{}") as Spec;
const v1 = (loadProtos(["modelmora/v1/inference.proto"]).grpcObject.modelmora as GrpcObject).v1 as GrpcObject;
const Constructor = v1.InferenceService as ServiceClientConstructor;

// x = 0, 1, …, n-1 as raw FP32: the bench's model answers y[k] = k.
const elements = spec.input.shape.reduce((product, dimension) => product * dimension, 1);
const inputBytes = Buffer.from(Float32Array.from({ length: elements }, (_, index) => index).buffer);

function request(chunkSizeBytes: number, id: string) {
  return {
    model: spec.model,
    id,
    inputs: [{ name: spec.input.name, datatype: "FP32", shape: spec.input.shape.map(String) }],
    raw_input_contents: [inputBytes],
    chunk_size_bytes: chunkSizeBytes,
  };
}

function call(client: InferenceClient, label: string, chunkSizeBytes: number, id: string, verify: boolean): Promise<StreamCall> {
  return new Promise((resolve, reject) => {
    let headerAt = Number.NaN;
    let lastAt = Number.NaN;
    let bytes = 0;
    let chunks = 0;
    let failure: Error | undefined;
    const copy = verify ? Buffer.alloc(spec.expectedBytes) : undefined;
    const started = performance.now();
    const stream = client.StreamInference(request(chunkSizeBytes, id));
    stream.on("data", (part: Part) => {
      const now = performance.now();
      if (part.header) {
        headerAt = now;
        const declared = part.header.outputs.reduce((total, output) => total + Number(output.byte_size), 0);
        if (declared !== spec.expectedBytes) failure ??= new Error(`${label}: header declares ${declared} bytes, expected ${spec.expectedBytes}`);
        return;
      }
      const chunk = part.chunk;
      if (!chunk) return void (failure ??= new Error(`${label}: a message with neither header nor chunk`));
      if (Number.isNaN(headerAt)) failure ??= new Error(`${label}: a chunk before the header`);
      if (chunk.output_index !== 0 || Number(chunk.offset) !== bytes) failure ??= new Error(`${label}: chunk at output ${chunk.output_index} offset ${chunk.offset}, expected 0/${bytes}`);
      if (chunk.data.byteLength > chunkSizeBytes) failure ??= new Error(`${label}: chunk of ${chunk.data.byteLength} bytes, asked for at most ${chunkSizeBytes}`);
      copy?.set(chunk.data, bytes);
      bytes += chunk.data.byteLength;
      chunks++;
      lastAt = now;
    });
    stream.on("error", (error) => reject(new Error(`${label}, ${chunkSizeBytes}-byte chunks: ${error.message}`)));
    stream.on("end", () => {
      if (!failure && bytes !== spec.expectedBytes) failure = new Error(`${label}: received ${bytes} bytes, expected ${spec.expectedBytes}`);
      if (!failure && copy) {
        const values = new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4);
        const wrong = values.findIndex((value, index) => value !== index);
        if (wrong >= 0) failure = new Error(`${label}: output element ${wrong} is ${values[wrong]}, expected ${wrong}`);
      }
      if (failure) return reject(failure);
      resolve({ label, chunkSizeBytes, totalMilliseconds: lastAt - started, headerMilliseconds: headerAt - started, bytes, chunks });
    });
  });
}

const clients = new Map<string, InferenceClient>();
for (const target of spec.targets) {
  // Chunks of 4 MiB plus framing exceed grpc-js's default 4 MiB receive limit.
  const client = new Constructor(target.address, credentials.createInsecure(), { "grpc.max_receive_message_length": -1 }) as unknown as InferenceClient;
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
  clients.set(target.label, client);
}

let sequence = 0;
for (const target of spec.targets) {
  for (const chunkSize of spec.chunkSizes) {
    // Untimed: first use of the path (and of the model's output buffers); the correctness check.
    await call(clients.get(target.label)!, target.label, chunkSize, `warm-${sequence++}`, target.verify === true);
  }
}
const calls: StreamCall[] = [];
for (let repetition = 0; repetition < spec.repetitions; repetition++) {
  for (const target of spec.targets) {
    for (const chunkSize of spec.chunkSizes) {
      calls.push(await call(clients.get(target.label)!, target.label, chunkSize, `r${sequence++}`, false));
    }
  }
}
for (const client of clients.values()) client.close();
process.stdout.write(`${JSON.stringify({ calls })}\n`);
