/**
 * StreamInference's hand-written chunk encoder against protobufjs (the method's own serializer from
 * the loaded proto, the independent reference): the same bytes for every chunk, decodable by the
 * client's deserializer, whatever the sizes and offsets, including one encoding after another in the
 * reused buffer.
 */
import { describe, expect, test } from "bun:test";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import fc from "fast-check";
import { MODELMORA_PROTO_FILES } from "../../src/api/grpc/modelmora/index.ts";
import { encodeStreamResponse, withReusedChunkBuffer } from "../../src/api/grpc/modelmora/stream-chunk-encoding.ts";
import type { StreamInferenceResponseMessage } from "../../src/api/grpc/modelmora/stream-inference.ts";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";

const service = loadProtos(MODELMORA_PROTO_FILES).definition["modelmora.v1.InferenceService"] as ServiceDefinition;
const method = service.StreamInference as MethodDefinition<unknown, StreamInferenceResponseMessage>;
const protobufSerialize = method.responseSerialize as (message: StreamInferenceResponseMessage) => Buffer;
const deserialize = method.responseDeserialize;

function chunk(outputIndex: number, offset: number, byteLength: number, seed: number): StreamInferenceResponseMessage {
  const data = Buffer.alloc(byteLength);
  for (let index = 0; index < byteLength; index++) data[index] = (index * 31 + seed) & 0xff;
  return { chunk: { output_index: outputIndex, offset, data } };
}

describe("StreamInference chunk encoding", () => {
  test("encodes every chunk to protobufjs's bytes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
        fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 16_000, max: 70_000 })),
        fc.integer({ min: 0, max: 255 }),
        (outputIndex, offset, byteLength, seed) => {
          const message = chunk(outputIndex, offset, byteLength, seed);
          const expected = protobufSerialize(message);
          expect(Buffer.compare(encodeStreamResponse(message, protobufSerialize), expected)).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("a large chunk after a small one, and a small one after it, each decode to what was sent", () => {
    for (const [outputIndex, offset, byteLength] of [
      [0, 0, 10],
      [1, 2 ** 40 + 7, 4 * 1024 * 1024],
      [2, 4 * 1024 * 1024, 3],
    ] as const) {
      const message = chunk(outputIndex, offset, byteLength, outputIndex);
      const decoded = deserialize(Buffer.from(encodeStreamResponse(message, protobufSerialize))) as unknown as { chunk: { output_index: number; offset: string; data: Buffer } };
      const sent = (message as { chunk: { data: Buffer } }).chunk;
      expect(decoded.chunk.output_index).toBe(outputIndex);
      expect(decoded.chunk.offset).toBe(String(offset));
      expect(Buffer.compare(decoded.chunk.data, sent.data)).toBe(0);
    }
  });

  test("headers go through protobufjs; the wrapped service serializes both kinds", () => {
    const header: StreamInferenceResponseMessage = {
      header: { model_name: "m", model_version: "1", id: "r", outputs: [{ name: "y", datatype: "FP32", shape: ["2", "3"], byte_size: 24 }] },
    };
    const wrapped = withReusedChunkBuffer(service).StreamInference!.responseSerialize as (message: StreamInferenceResponseMessage) => Buffer;
    expect(Buffer.compare(wrapped(header), protobufSerialize(header))).toBe(0);
    const message = chunk(0, 24, 1000, 9);
    expect(Buffer.compare(wrapped(message), protobufSerialize(message))).toBe(0);
    expect(service.Infer).toBeDefined();
    expect(withReusedChunkBuffer(service).Infer).toBe(service.Infer);
  });
});
