/**
 * The one datatype table: for each KServe v2 datatype, its element size in bytes, the typed array
 * that holds it on the wire and in shared memory, and its onnxruntime name. The server's codecs and
 * the worker both read it (it is plain data; onnxruntime is imported as a type only).
 *
 * BOOL travels as Uint8Array (0/1), FP16 as Uint16Array (IEEE half bits), BYTES as string[] and
 * never through shared memory (variable length).
 */
import type { Tensor } from "onnxruntime-node";
import type { Datatype, TensorData } from "./protocol.ts";

type OrtType = Tensor.Type;

export type NumericDatatype = Exclude<Datatype, "BYTES">;
export type NumericData = Exclude<TensorData, string[]>;

interface TypedArrayType {
  new (length: number): NumericData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericData;
}

interface DatatypeInfo {
  ort: OrtType;
  /** Bytes per element; 0 for BYTES. */
  bytes: number;
  /** The typed array of the wire format; undefined for BYTES. */
  array: TypedArrayType | undefined;
}

export const DATATYPE_TABLE: Readonly<Record<Datatype, DatatypeInfo>> = {
  BOOL: { ort: "bool", bytes: 1, array: Uint8Array },
  UINT8: { ort: "uint8", bytes: 1, array: Uint8Array },
  UINT16: { ort: "uint16", bytes: 2, array: Uint16Array },
  UINT32: { ort: "uint32", bytes: 4, array: Uint32Array },
  UINT64: { ort: "uint64", bytes: 8, array: BigUint64Array },
  INT8: { ort: "int8", bytes: 1, array: Int8Array },
  INT16: { ort: "int16", bytes: 2, array: Int16Array },
  INT32: { ort: "int32", bytes: 4, array: Int32Array },
  INT64: { ort: "int64", bytes: 8, array: BigInt64Array },
  FP16: { ort: "float16", bytes: 2, array: Uint16Array },
  FP32: { ort: "float32", bytes: 4, array: Float32Array },
  FP64: { ort: "float64", bytes: 8, array: Float64Array },
  BYTES: { ort: "string", bytes: 0, array: undefined },
};

const ORT_TO_KSERVE = new Map<string, Datatype>(Object.entries(DATATYPE_TABLE).map(([kserve, info]) => [info.ort, kserve as Datatype]));

export function ortType(datatype: Datatype): OrtType {
  return DATATYPE_TABLE[datatype].ort;
}

/** The KServe name of an onnxruntime type, or undefined for types KServe cannot express. */
export function kserveDatatype(ortTypeName: string): Datatype | undefined {
  return ORT_TO_KSERVE.get(ortTypeName);
}

/** Bytes per element of a fixed-size datatype (BYTES has none). */
export function elementBytes(datatype: NumericDatatype): number {
  return DATATYPE_TABLE[datatype].bytes;
}

/**
 * A typed-array view of `elementCount` elements at `byteOffset` of `bytes` (no copy). The offset
 * within the underlying buffer must be a multiple of the element size.
 */
export function typedView(datatype: NumericDatatype, bytes: Uint8Array, byteOffset: number, elementCount: number): NumericData {
  return new DATATYPE_TABLE[datatype].array!(bytes.buffer, bytes.byteOffset + byteOffset, elementCount);
}

/** A new zero-filled array of `elementCount` elements in the wire representation of `datatype`. */
export function zeros(datatype: Datatype, elementCount: number): TensorData {
  const array = DATATYPE_TABLE[datatype].array;
  return array ? new array(elementCount) : Array.from({ length: elementCount }, () => "");
}
