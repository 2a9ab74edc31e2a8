/**
 * What a transport hands the inference service and what it gets back: `InferenceRequest` (tensors),
 * `PreparedRequest` (a task request whose worker inputs are built once the model is resolved), and
 * the answers as JSON tensors or typed arrays. Transports import these from src/inference/service.ts.
 */
import type { TraceCarrier } from "../observability/tracing.ts";
import type { ResolvedVersion } from "../registry/registry.ts";
import type { WireTensor } from "../../workers/protocol.ts";
import type { Turn } from "./admission-gate.ts";
import type { Priority } from "./priority.ts";
import type { InputTensor, JsonOutputTensor } from "./tensor-codec.ts";

/** A tensor as typed elements (BOOL as 0/1 bytes, FP16 as half bits, BYTES as strings). */
export type { WireTensor };

export interface InferenceRequest {
  model: string;
  /** A specific version; the model's active version when absent. */
  version?: string;
  /** Echoed in the response, as KServe v2 does. */
  id?: string;
  inputs: InputTensor[];
  /** Output names to return; all outputs when absent. */
  outputs?: { name: string }[];
  priority: Priority;
  /** Per-request deadline; may only shorten the model's `defaultTimeoutMicroseconds`. */
  timeoutMicroseconds?: number;
  /** Aborted when the client goes away: a queued request is dropped and never runs. */
  signal?: AbortSignal;
  /** How long the model stays loaded after this request (0 = unload when idle, -1 = forever). */
  keepAliveSeconds?: number;
  /** The turn this request was given to be parsed (see `InferenceService.turn`); ended once it is queued. */
  turn?: Turn;
  /** W3C trace context the request came with (REST headers, gRPC metadata). */
  trace?: TraceCarrier;
}

/** What every request carries besides its inputs: which model, its priority, deadline, cancellation, keep-alive and parse turn. */
export type RequestControls = Pick<InferenceRequest, "model" | "version" | "priority" | "timeoutMicroseconds" | "signal" | "keepAliveSeconds" | "turn">;

/** The controls of `request` (a task request carries more fields that the service must not see). */
export function controlsOf(request: RequestControls): RequestControls {
  return {
    model: request.model,
    version: request.version,
    priority: request.priority,
    timeoutMicroseconds: request.timeoutMicroseconds,
    signal: request.signal,
    keepAliveSeconds: request.keepAliveSeconds,
    turn: request.turn,
  };
}

export interface InferenceResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: JsonOutputTensor[];
}

/** A task request (txt2embed …): `prepare` turns the resolved version into the worker's inline inputs. */
export interface PreparedRequest extends Omit<InferenceRequest, "inputs" | "outputs" | "id"> {
  /** Throws (INVALID_INPUT …) when the request does not suit the model, e.g. its task. */
  prepare: (target: ResolvedVersion) => { inputs: WireTensor[]; rows: number; signature: string };
}

/** The same answer with outputs as typed arrays, for transports that send raw bytes. */
export interface TensorInferenceResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: WireTensor[];
}
