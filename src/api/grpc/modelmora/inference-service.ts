/**
 * modelmora.v1.InferenceService: Infer (unary), InferStream (bidirectional) and StreamInference
 * (server-streaming, chunked outputs). Every RPC builds an `InferenceRequest` and calls the one
 * inference service; none touches the scheduler or workers.
 */
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { DEFAULT_MAX_PENDING_PER_STREAM } from "../bidi-stream.ts";
import { callContext } from "../call-context.ts";
import type { GrpcDependencies } from "../dependencies.ts";
import { unary } from "../unary.ts";
import { inferStream } from "./infer-stream.ts";
import { type InferRequestMessage, type InferResponseMessage, isRawRequest, toInferenceRequest, toInferResponse } from "./infer-request.ts";
import { streamInference } from "./stream-inference.ts";
import { generateHandler } from "./generate.ts";
import { taskRpcHandlers } from "./task-rpcs.ts";

export function inferenceServiceHandlers({ inference, logger, generation, maxPendingPerStream = DEFAULT_MAX_PENDING_PER_STREAM }: GrpcDependencies): UntypedServiceImplementation {
  return {
    Infer: unary<InferRequestMessage, InferResponseMessage>(logger, async (message, call) => {
      const response = await inference.inferTensors(toInferenceRequest(message, callContext(call)));
      return toInferResponse(response, isRawRequest(message));
    }),
    InferStream: inferStream(inference, logger, maxPendingPerStream),
    StreamInference: streamInference(inference, logger),
    ...taskRpcHandlers(inference, logger),
    Generate: generateHandler(generation, logger),
  };
}
