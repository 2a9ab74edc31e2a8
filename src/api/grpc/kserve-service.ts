/**
 * `inference.GRPCInferenceService`: the KServe v2 / Open Inference Protocol over gRPC, wire
 * compatible with the public grpc_predict_v2.proto (and Triton's ModelStreamInfer). Every call goes
 * through the same InferenceService as REST; every failure through `toServiceError`.
 *
 * Request parameters (ModelInferRequest.parameters), as on REST:
 * - `priority` (1..4 or critical|high|normal|low) wins over `x-priority` metadata, which is the
 *   call's default: on a stream the metadata is shared while each message may name its own level.
 * - `timeout_ms` (> 0) bounds the request's time in the server; with a gRPC deadline as well, the
 *   shorter one applies.
 * - `keep_alive_seconds` (integer, -1 = forever, 0 = unload when idle).
 * Other parameters are ignored, as KServe allows.
 *
 * Answers mirror the request: raw_input_contents in → raw_output_contents out; typed contents in →
 * typed contents out (an FP16 output always travels raw; it has no typed field).
 */
import type { Server, ServerDuplexStream, ServerUnaryCall, ServiceDefinition, sendUnaryData } from "@grpc/grpc-js";
import { ModelMoraError, invalidInput } from "../../errors.ts";
import { parsePriority } from "../../inference/priority.ts";
import { SERVER_METADATA } from "../../inference/server-metadata.ts";
import type { InferenceRequest, TensorInferenceResponse } from "../../inference/service.ts";
import { type CallContext, callContext, remainingMicroseconds } from "./call-context.ts";
import type { GrpcDependencies } from "./dependencies.ts";
import { type InferParameter, type ProtoInputTensor, type ProtoOutputTensor, parameterValue, toInputTensors, toProtoOutputs } from "./kserve-tensors.ts";
import { loadProtos } from "./proto-loading.ts";
import { isServerReady } from "../readiness.ts";
import { CODE_METADATA_KEY, toServiceError } from "./status-mapping.ts";

export const KSERVE_SERVICE_NAME = "inference.GRPCInferenceService";

/** ModelInferRequest as proto-loader decodes it (PROTO_LOADER_OPTIONS: defaults on, longs as strings). */
export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: ProtoInputTensor[];
  outputs: { name: string; parameters: Record<string, InferParameter> }[];
  raw_input_contents: Buffer[];
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: Record<string, InferParameter>;
  outputs: ProtoOutputTensor[];
  raw_output_contents: Buffer[];
}

/** One answer on ModelStreamInfer: either `infer_response`, or `error_message` (Triton's shape). */
export interface ModelStreamInferResponse {
  error_message: string;
  infer_response: ModelInferResponse | null;
}

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

export function kserveHandlers({ inference, models, readiness, logger }: GrpcDependencies) {
  /** An async handler as a grpc-js unary handler; a thrown error is answered through the one mapping. */
  const unary =
    <Request, Response>(handle: (call: ServerUnaryCall<Request, Response>) => Promise<Response>) =>
    (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>): void => {
      handle(call).then(
        (response) => callback(null, response),
        (error: unknown) => callback(serviceError(error)),
      );
    };

  const serviceError = (error: unknown) => {
    if (!(error instanceof ModelMoraError)) logger.error({ event: "grpc_internal_error", error: String(error) }, "unexpected error in a gRPC handler");
    return toServiceError(error);
  };

  const infer = async (request: ModelInferRequest, context: CallContext): Promise<ModelInferResponse> => {
    const result = await inference.inferTensors(toInferenceRequest(request, context));
    return toInferResponse(result, request);
  };

  return {
    ServerLive: unary<unknown, { live: boolean }>(async () => ({ live: true })),

    ServerReady: unary<unknown, { ready: boolean }>(async () => ({ ready: await isServerReady(readiness) })),

    ModelReady: unary<ModelRequest, { ready: boolean }>(async ({ request }) => ({ ready: await models.isReady(request.name, request.version || undefined) })),

    ServerMetadata: unary<unknown, typeof SERVER_METADATA>(async () => SERVER_METADATA),

    ModelMetadata: unary<ModelRequest, { name: string; versions: string[]; platform: string; inputs: TensorMetadata[]; outputs: TensorMetadata[] }>(
      async ({ request }) => {
        const metadata = await models.metadata(request.name, request.version || undefined);
        const tensors = (specs: typeof metadata.inputs) => specs.map((spec) => ({ name: spec.name, datatype: spec.datatype, shape: spec.shape.map(String) }));
        return { ...metadata, inputs: tensors(metadata.inputs), outputs: tensors(metadata.outputs) };
      },
    ),

    ModelInfer: unary<ModelInferRequest, ModelInferResponse>(async (call) => infer(call.request, callContext(call))),

    /**
     * Each request runs as soon as it arrives, concurrently, through the same queues as unary
     * calls; each answer is written when it is ready (not in request order), carrying the request's
     * id. A failed request answers `error_message` (plus `infer_response` with its id and the
     * domain code in `parameters.error_code`) and the stream goes on. When the client cancels,
     * the stream's queued requests are dropped. The stream ends once the client has half-closed
     * and every answer is written.
     */
    ModelStreamInfer: (call: ServerDuplexStream<ModelInferRequest, ModelStreamInferResponse>): void => {
      let context: CallContext;
      try {
        // One context per stream: one abort signal (fired on 'cancelled') for all its requests.
        context = callContext(call);
      } catch (error) {
        call.emit("error", serviceError(error));
        return;
      }
      let pending = 0;
      let halfClosed = false;
      let ended = false;
      const endWhenDone = () => {
        if (!halfClosed || pending > 0 || ended) return;
        ended = true;
        if (!call.cancelled) call.end();
      };
      call.on("data", (request: ModelInferRequest) => {
        pending++;
        const requestContext = { ...context, timeoutMicroseconds: remainingMicroseconds(call) };
        infer(request, requestContext)
          .then(
            (response): ModelStreamInferResponse => ({ error_message: "", infer_response: response }),
            (error: unknown) => streamError(request, serviceError(error)),
          )
          .then((answer) => {
            if (!ended && !call.cancelled) call.write(answer);
          })
          .finally(() => {
            pending--;
            endWhenDone();
          });
      });
      call.on("end", () => {
        halfClosed = true;
        endWhenDone();
      });
    },
  };
}

/** The service's request for one ModelInferRequest; `call` gives the defaults (x-priority, deadline, cancellation). */
export function toInferenceRequest(request: ModelInferRequest, call: CallContext): InferenceRequest {
  const parameters = request.parameters ?? {};
  const priority = parameterValue(parameters.priority);
  const timeoutMilliseconds = parameterValue(parameters.timeout_ms);
  const keepAliveSeconds = parameterValue(parameters.keep_alive_seconds);
  if (timeoutMilliseconds !== undefined && !(typeof timeoutMilliseconds === "number" && timeoutMilliseconds > 0 && Number.isFinite(timeoutMilliseconds))) {
    throw invalidInput(`parameters.timeout_ms must be a number > 0, got ${JSON.stringify(timeoutMilliseconds)}`, { field: "parameters.timeout_ms" });
  }
  if (keepAliveSeconds !== undefined && !(typeof keepAliveSeconds === "number" && Number.isSafeInteger(keepAliveSeconds) && keepAliveSeconds >= -1)) {
    throw invalidInput(`parameters.keep_alive_seconds must be an integer >= -1, got ${JSON.stringify(keepAliveSeconds)}`, { field: "parameters.keep_alive_seconds" });
  }
  const requested = timeoutMilliseconds === undefined ? undefined : Math.round(timeoutMilliseconds * 1000);
  return {
    model: request.model_name,
    version: request.model_version || undefined,
    id: request.id,
    inputs: toInputTensors(request.inputs, request.raw_input_contents),
    outputs: request.outputs.length > 0 ? request.outputs.map((output) => ({ name: output.name })) : undefined,
    priority: priority === undefined ? call.priority : parsePriority(priority, "parameters.priority"),
    timeoutMicroseconds: shorter(requested, call.timeoutMicroseconds),
    keepAliveSeconds,
    signal: call.signal,
    trace: call.trace,
  };
}

function toInferResponse(result: TensorInferenceResponse, request: ModelInferRequest): ModelInferResponse {
  const { outputs, rawOutputContents } = toProtoOutputs(result.outputs, request.raw_input_contents.length > 0);
  return { model_name: result.model_name, model_version: result.model_version, id: request.id, outputs, raw_output_contents: rawOutputContents };
}

/** A failed stream request: the message, and the request's id with the domain code so clients can match it. */
function streamError(request: ModelInferRequest, error: ReturnType<typeof toServiceError>): ModelStreamInferResponse {
  const [code] = error.metadata?.get(CODE_METADATA_KEY) ?? [];
  return {
    error_message: error.details ?? "internal error",
    infer_response: {
      model_name: request.model_name,
      model_version: request.model_version,
      id: request.id,
      parameters: { error_code: { string_param: String(code ?? "INTERNAL") } },
      outputs: [],
      raw_output_contents: [],
    },
  };
}

function shorter(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
