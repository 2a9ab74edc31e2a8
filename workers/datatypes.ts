/** Mapping between KServe v2 datatype names and onnxruntime tensor types (worker side only). */
import type { Tensor } from "onnxruntime-node";
import type { Datatype, TensorData } from "./protocol.ts";

type OrtType = Tensor.Type;

const KSERVE_TO_ORT: Record<Datatype, OrtType> = {
  BOOL: "bool",
  UINT8: "uint8",
  UINT16: "uint16",
  UINT32: "uint32",
  UINT64: "uint64",
  INT8: "int8",
  INT16: "int16",
  INT32: "int32",
  INT64: "int64",
  FP16: "float16",
  FP32: "float32",
  FP64: "float64",
  BYTES: "string",
};

const ORT_TO_KSERVE = new Map<string, Datatype>(
  Object.entries(KSERVE_TO_ORT).map(([kserve, ort]) => [ort, kserve as Datatype]),
);

export function ortType(datatype: Datatype): OrtType {
  return KSERVE_TO_ORT[datatype];
}

/** The KServe name of an onnxruntime type, or undefined for types KServe cannot express. */
export function kserveDatatype(ortTypeName: string): Datatype | undefined {
  return ORT_TO_KSERVE.get(ortTypeName);
}

/** A zero-filled buffer of `elementCount` elements in the wire representation of `datatype`. */
export function zeros(datatype: Datatype, elementCount: number): TensorData {
  switch (datatype) {
    case "BOOL":
    case "UINT8":
      return new Uint8Array(elementCount);
    case "UINT16":
    case "FP16":
      return new Uint16Array(elementCount);
    case "UINT32":
      return new Uint32Array(elementCount);
    case "UINT64":
      return new BigUint64Array(elementCount);
    case "INT8":
      return new Int8Array(elementCount);
    case "INT16":
      return new Int16Array(elementCount);
    case "INT32":
      return new Int32Array(elementCount);
    case "INT64":
      return new BigInt64Array(elementCount);
    case "FP32":
      return new Float32Array(elementCount);
    case "FP64":
      return new Float64Array(elementCount);
    case "BYTES":
      return Array.from({ length: elementCount }, () => "");
  }
}
