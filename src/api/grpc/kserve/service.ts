/**
 * `inference.GRPCInferenceService`: the KServe v2 / Open Inference Protocol over gRPC, wire
 * compatible with the public grpc_predict_v2.proto (and Triton's ModelStreamInfer). Every call goes
 * through the same InferenceService as REST; every failure through the one gRPC mapping
 * (`unary`, `reportError`). Request parameters: infer-request.ts.
 *
 * Answers mirror the request: raw_input_contents in → raw_output_contents out; typed contents in →
 * typed contents out (an FP16 output always travels raw; it has no typed field).
 */
import type { Server, ServerDuplexStream, ServiceDefinition } from "@grpc/grpc-js";
import { SERVER_METADATA } from "../../../inference/server-metadata.ts";
import { isServerReady } from "../../readiness.ts";
import { DEFAULT_MAX_PENDING_PER_STREAM, serveBidiStream } from "../bidi-stream.ts";
import type { CallContext } from "../call-context.ts";
import { callContext } from "../call-context.ts";
import type { GrpcDependencies } from "../dependencies.ts";
import { loadProtos } from "../proto-loading.ts";
import { reportError, unary } from "../unary.ts";
import { type ModelInferRequest, type ModelInferResponse, type ModelStreamInferResponse, streamError, toInferenceRequest, toInferResponse } from "./infer-request.ts";

export const KSERVE_SERVICE_NAME = "inference.GRPCInferenceService";

interface ModelRequest {
  name: string;
  version: string;
}

interface TensorMetadata {
  name: string;
  datatype: string;
  shape: string[];
}

/**
 * Registers the service on `server` and returns its fully-qualified name.
 *
 * @example
 * const server = new grpc.Server();
 * addKServeService(server, dependencies); // "inference.GRPCInferenceService"
 */
export function addKServeService(server: Pick<Server, "addService">, dependencies: GrpcDependencies): string {
  const { definition } = loadProtos(["kserve/grpc_predict_v2.proto"]);
  server.addService(definition[KSERVE_SERVICE_NAME] as ServiceDefinition, kserveHandlers(dependencies));
  return KSERVE_SERVICE_NAME;
}

export function kserveHandlers({ inference, models, readiness, logger, maxPendingPerStream = DEFAULT_MAX_PENDING_PER_STREAM }: GrpcDependencies) {
  const infer = async (request: ModelInferRequest, context: CallContext): Promise<ModelInferResponse> => {
    const result = await inference.inferTensors(toInferenceRequest(request, context));
    return toInferResponse(result, request);
  };

  return {
    ServerLive: unary<unknown, { live: boolean }>(logger, async () => ({ live: true })),

    ServerReady: unary<unknown, { ready: boolean }>(logger, async () => ({ ready: await isServerReady(readiness) })),

    ModelReady: unary<ModelRequest, { ready: boolean }>(logger, async (request) => ({ ready: await models.isReady(request.name, request.version || undefined) })),

    ServerMetadata: unary<unknown, typeof SERVER_METADATA>(logger, async () => SERVER_METADATA),

    ModelMetadata: unary<ModelRequest, { name: string; versions: string[]; platform: string; inputs: TensorMetadata[]; outputs: TensorMetadata[] }>(logger, async (request) => {
      const metadata = await models.metadata(request.name, request.version || undefined);
      const tensors = (specs: typeof metadata.inputs) => specs.map((spec) => ({ name: spec.name, datatype: spec.datatype, shape: spec.shape.map(String) }));
      return { ...metadata, inputs: tensors(metadata.inputs), outputs: tensors(metadata.outputs) };
    }),

    ModelInfer: unary<ModelInferRequest, ModelInferResponse>(logger, async (request, call) => infer(request, callContext(call))),

    /**
     * The shared bidirectional stream (../bidi-stream.ts). A failed request answers `error_message`
     * (plus `infer_response` with its id and the domain code in `parameters.error_code`) and the
     * stream goes on.
     */
    ModelStreamInfer: (call: ServerDuplexStream<ModelInferRequest, ModelStreamInferResponse>): void => {
      const method = call.getPath();
      const answer = (request: ModelInferRequest, context: CallContext): Promise<ModelStreamInferResponse> =>
        infer(request, context).then(
          (response) => ({ error_message: "", infer_response: response }),
          (error: unknown) => streamError(request, reportError(logger, method, error)),
        );
      serveBidiStream(call, { answer, maxPendingPerStream, logger });
    },
  };
}
