/**
 * modelmora.v1.InferenceService: Infer (unary), InferStream (bidirectional) and StreamInference
 * (server-streaming, chunked outputs). Every RPC builds an `InferenceRequest` and calls the one
 * inference service; none touches the scheduler or workers.
 */
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { callContext } from "../call-context.ts";
import type { GrpcDependencies } from "../dependencies.ts";
import { inferStream } from "./infer-stream.ts";
import { type InferRequestMessage, type InferResponseMessage, isRawRequest, toInferenceRequest, toInferResponse } from "./infer-request.ts";
import { unary } from "./rpc-errors.ts";
import { streamInference } from "./stream-inference.ts";
import { generateHandler } from "./generate.ts";

export function inferenceServiceHandlers({ inference, logger, generation }: GrpcDependencies): UntypedServiceImplementation {
  return {
    Infer: unary<InferRequestMessage, InferResponseMessage>(logger, async (message, call) => {
      const response = await inference.inferTensors(toInferenceRequest(message, callContext(call)));
      return toInferResponse(response, isRawRequest(message));
    }),
    InferStream: inferStream(inference, logger),
    StreamInference: streamInference(inference, logger),
    Generate: generateHandler(generation, logger),
  };
}
