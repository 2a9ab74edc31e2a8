/**
 * KServe v2 protobuf tensors ↔ the inference service's tensors. Inputs come either as typed
 * `contents` or, one entry per input in order, as `raw_input_contents`; the answer mirrors the
 * request: raw inputs get `raw_output_contents`, typed inputs get typed `contents`. FP16 has no
 * typed field in the protocol and always travels raw.
 */
import { invalidInput } from "../../../errors.ts";
import { toRawBytes } from "../../../inference/raw-tensor.ts";
import type { WireTensor } from "../../../inference/service.ts";
import type { InputTensor } from "../../../inference/tensor-codec.ts";
import type { Datatype } from "../../../registry/tensor-spec.ts";

/** InferTensorContents as proto-loader decodes it (PROTO_LOADER_OPTIONS: longs as strings, defaults on). */
export interface TensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: string[];
  uint_contents: number[];
  uint64_contents: string[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

export interface InferParameter {
  parameter_choice?: "bool_param" | "int64_param" | "string_param" | "double_param" | "uint64_param";
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
}

export interface ProtoInputTensor {
  name: string;
  datatype: string;
  shape: string[];
  parameters: Record<string, InferParameter>;
  contents: TensorContents | null;
}

export interface ProtoOutputTensor {
  name: string;
  datatype: string;
  shape: string[];
  parameters?: Record<string, InferParameter>;
  contents?: Partial<TensorContents>;
}

/** The typed-contents field each datatype uses; FP16 has none. */
const CONTENTS_FIELD: Record<Exclude<Datatype, "FP16">, keyof TensorContents> = {
  BOOL: "bool_contents",
  INT8: "int_contents",
  INT16: "int_contents",
  INT32: "int_contents",
  INT64: "int64_contents",
  UINT8: "uint_contents",
  UINT16: "uint_contents",
  UINT32: "uint_contents",
  UINT64: "uint64_contents",
  FP32: "fp32_contents",
  FP64: "fp64_contents",
  BYTES: "bytes_contents",
};

/** The request's inputs for the inference service; malformed ones are INVALID_INPUT naming the field. */
export function toInputTensors(inputs: ProtoInputTensor[], rawInputContents: Buffer[]): InputTensor[] {
  if (rawInputContents.length > 0 && rawInputContents.length !== inputs.length) {
    throw invalidInput(`raw_input_contents has ${rawInputContents.length} entries but there are ${inputs.length} inputs; send one per input, in order`, {
      field: "raw_input_contents",
    });
  }
  return inputs.map((input, index) => {
    const field = `inputs[${index}]`;
    const shape = input.shape.map((dimension) => toDimension(dimension, `${field}.shape`));
    const raw = rawInputContents[index];
    if (raw !== undefined) {
      if (hasContents(input.contents)) throw invalidInput(`${field}: has both contents and raw_input_contents`, { field: `${field}.contents` });
      return { name: input.name, datatype: input.datatype, shape, raw: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) };
    }
    if (input.datatype === "FP16") throw invalidInput(`${field}: FP16 has no typed contents in the protocol; send it in raw_input_contents`, { field: `${field}.contents` });
    const contentsField = CONTENTS_FIELD[input.datatype as Exclude<Datatype, "FP16">];
    // An unknown datatype falls through to the codec, which names it.
    const values: unknown[] = contentsField && input.contents ? (input.contents[contentsField] as unknown[]) : [];
    const data = contentsField === "bytes_contents" ? (values as Buffer[]).map((value) => value.toString("utf8")) : values;
    return { name: input.name, datatype: input.datatype, shape, data };
  });
}

/**
 * Output tensors and, when `raw`, their bytes for `raw_output_contents` (same order). An FP16
 * output has no typed field, so an answer holding one is sent raw whatever the request used.
 */
export function toProtoOutputs(outputs: WireTensor[], raw: boolean): { outputs: ProtoOutputTensor[]; rawOutputContents: Buffer[] } {
  if (raw || outputs.some((tensor) => tensor.datatype === "FP16")) {
    return {
      outputs: outputs.map((tensor) => ({ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape.map(String) })),
      rawOutputContents: outputs.map((tensor) => {
        const bytes = toRawBytes(tensor);
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }),
    };
  }
  return {
    outputs: outputs.map((tensor) => ({ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape.map(String), contents: typedContents(tensor) })),
    rawOutputContents: [],
  };
}

function typedContents(tensor: WireTensor): Partial<TensorContents> {
  const { data, datatype } = tensor;
  const field = CONTENTS_FIELD[datatype as Exclude<Datatype, "FP16">];
  if (Array.isArray(data)) return { [field]: data.map((value) => Buffer.from(value, "utf8")) };
  if (datatype === "BOOL") return { bool_contents: Array.from(data as Uint8Array, (value) => value !== 0) };
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return { [field]: Array.from(data, (value) => value.toString()) };
  return { [field]: Array.from(data as Float32Array) };
}

function hasContents(contents: TensorContents | null): boolean {
  if (!contents) return false;
  return Object.values(contents).some((values) => Array.isArray(values) && values.length > 0);
}

function toDimension(value: string, field: string): number {
  const dimension = Number(value);
  if (!Number.isSafeInteger(dimension) || dimension < 0) throw invalidInput(`${field}: dimensions must be non-negative integers, got ${value}`, { field });
  return dimension;
}

/** A request parameter as a plain value (the oneof's chosen field). */
export function parameterValue(parameter: InferParameter | undefined): boolean | number | string | undefined {
  if (!parameter?.parameter_choice) return undefined;
  const value = parameter[parameter.parameter_choice];
  if (parameter.parameter_choice === "int64_param" || parameter.parameter_choice === "uint64_param") return Number(value);
  return value;
}
