/**
 * KServe v2 gRPC `ModelInfer` for the load client, with the request serialized once: grpc-js gets
 * the protobuf bytes through a pass-through serializer, so each call costs the client the call and
 * the answer's decoding, never the request's encoding.
 */
import { type Client, type GrpcObject, type ServiceClientConstructor, type ServiceError, credentials } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { float32Bytes, float32Values } from "./float32.ts";
import type { InputValues, Sender } from "./transport-load.ts";

interface ModelInferResponse {
  outputs: { name: string }[];
  raw_output_contents: Buffer[];
}

export async function grpcSender(address: string, model: string, inputs: readonly InputValues[]): Promise<Sender> {
  const inference = loadProtos(["kserve/grpc_predict_v2.proto"]).grpcObject.inference as GrpcObject;
  const Constructor = inference.GRPCInferenceService as ServiceClientConstructor;
  const method = Constructor.service.ModelInfer!;
  const client: Client = new Constructor(address, credentials.createInsecure(), { "grpc.max_receive_message_length": -1 });
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(error) : resolve())));
  const requestBytes = method.requestSerialize({
    model_name: model,
    inputs: inputs.map(({ name, shape }) => ({ name, datatype: "FP32", shape: shape.map(String) })),
    raw_input_contents: inputs.map(({ values }) => Buffer.from(float32Bytes(values))),
  });
  const passThrough = (bytes: Buffer) => bytes;
  const decode = (bytes: Buffer) => method.responseDeserialize(bytes) as ModelInferResponse;
  return {
    send: () =>
      new Promise((resolve, reject) =>
        client.makeUnaryRequest(method.path, passThrough, decode, requestBytes, (error: ServiceError | null, response?: ModelInferResponse) => {
          if (error || !response) return reject(error ?? new Error("no response"));
          const raw = response.raw_output_contents[0];
          if (!raw) return reject(new Error("answer without raw_output_contents"));
          resolve({ name: response.outputs[0]?.name ?? "", values: float32Values(raw) });
        }),
      ),
    close: () => client.close(),
  };
}
