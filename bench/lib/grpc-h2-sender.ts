/**
 * KServe v2 gRPC `ModelInfer` over bare HTTP/2 (node:http2), for the load client: the request is
 * serialized and framed (the 5-byte gRPC message prefix) once; each call opens one stream on one
 * shared HTTP/2 session, writes the frame, and decodes the answer's single message. The same bytes
 * on the wire as a grpc-js client's, without grpc-js's per-call machinery (call stacks, filters,
 * metadata objects), so the client's own cost stays small beside the server's.
 */
import http2 from "node:http2";
import type { GrpcObject, ServiceClientConstructor } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { float32Bytes, float32Values } from "./float32.ts";
import type { InputValues, Sender } from "./transport-load.ts";

interface ModelInferResponse {
  outputs: { name: string }[];
  raw_output_contents: Buffer[];
}

const GRPC_PREFIX_BYTES = 5;

export async function grpcH2Sender(address: string, model: string, inputs: readonly InputValues[]): Promise<Sender> {
  const inference = loadProtos(["kserve/grpc_predict_v2.proto"]).grpcObject.inference as GrpcObject;
  const method = (inference.GRPCInferenceService as ServiceClientConstructor).service.ModelInfer!;
  const message = method.requestSerialize({
    model_name: model,
    inputs: inputs.map(({ name, shape }) => ({ name, datatype: "FP32", shape: shape.map(String) })),
    raw_input_contents: inputs.map(({ values }) => Buffer.from(float32Bytes(values))),
  });
  const frame = Buffer.alloc(GRPC_PREFIX_BYTES + message.byteLength);
  frame.writeUInt32BE(message.byteLength, 1);
  message.copy(frame, GRPC_PREFIX_BYTES);
  const session = http2.connect(`http://${address}`);
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  const headers = { ":method": "POST", ":path": method.path, "content-type": "application/grpc", te: "trailers" };
  return {
    send: () =>
      new Promise((resolve, reject) => {
        const stream = session.request(headers);
        const chunks: Buffer[] = [];
        let status: string | undefined;
        let statusMessage: string | undefined;
        const readStatus = (fields: http2.IncomingHttpHeaders) => {
          if (fields["grpc-status"] !== undefined) status = String(fields["grpc-status"]);
          if (fields["grpc-message"] !== undefined) statusMessage = decodeURIComponent(String(fields["grpc-message"]));
        };
        stream.on("response", readStatus);
        stream.on("trailers", readStatus);
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("error", reject);
        stream.on("end", () => {
          if (status !== "0") return reject(new Error(`grpc-status ${status ?? "missing"}: ${statusMessage ?? ""}`));
          const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          if (body.byteLength < GRPC_PREFIX_BYTES) return reject(new Error("answer without a message"));
          const length = body.readUInt32BE(1);
          const response = method.responseDeserialize(body.subarray(GRPC_PREFIX_BYTES, GRPC_PREFIX_BYTES + length)) as ModelInferResponse;
          const raw = response.raw_output_contents[0];
          if (!raw) return reject(new Error("answer without raw_output_contents"));
          resolve({ name: response.outputs[0]?.name ?? "", values: float32Values(raw) });
        });
        stream.end(frame);
      }),
    close: () => session.close(),
  };
}
