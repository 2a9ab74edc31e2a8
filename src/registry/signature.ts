/**
 * What the registry needs of a model file it stores: its input/output signature. Reading it is
 * injected (`InspectModel`; the lifecycle layer provides one that opens the file in a short-lived
 * worker, src/lifecycle/inspect.ts), so the registry imports nothing above it.
 */
import type { TensorSpec } from "./tensor-spec.ts";

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** Reads the signature of the model file at `modelPath`; MODEL_LOAD_FAILED when it cannot be opened. */
export type InspectModel = (modelPath: string) => Promise<ModelSignature>;
