/** Tensor signatures as the registry stores them and the API reports them. */
export type { Datatype, TensorSpec } from "../../workers/protocol.ts";
export { DATATYPES } from "../../workers/protocol.ts";
