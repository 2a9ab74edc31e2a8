/**
 * Tensor signatures as the registry stores them and the API reports them. Declared once, in the
 * worker contract (workers/protocol.ts, the bottom of every arrow); every layer above reads them here.
 */
export type { Datatype, TensorSpec } from "../../workers/protocol.ts";
export { DATATYPES } from "../../workers/protocol.ts";
