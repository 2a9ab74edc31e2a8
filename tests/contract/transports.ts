/**
 * The four ways a client can ask ModelMora for an inference, behind one interface, so that one
 * contract suite runs the same cases over each: REST JSON, REST with the KServe binary tensor
 * extension, KServe v2 gRPC (typed contents), and modelmora.v1 gRPC (raw contents).
 */
import { type ChannelCredentials, type Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { loadProtos } from "../../src/api/grpc/proto-loading.ts";
import { fromRawBytes, toRawBytes } from "../../src/inference/raw-tensor.ts";
import { decodeInputs } from "../../src/inference/tensor-codec.ts";
import type { Datatype, TensorSpec, WireTensor } from "../../workers/protocol.ts";

/** A tensor as the suite writes and compares it: plain values, whatever the transport. */
export interface ContractTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  values: (number | string | boolean)[];
}

export interface ContractRequest {
  model: string;
  version?: string;
  id: string;
  inputs: ContractTensor[];
  outputs?: string[];
}

export type ContractAnswer =
  | { ok: true; model_name: string; model_version: string; id: string; outputs: ContractTensor[] }
  | { ok: false; code: string };

export interface Transport {
  name: string;
  infer(request: ContractRequest): Promise<ContractAnswer>;
  close(): void;
}

/** Typed elements for the binary transports (the codec does the same conversion for JSON input). */
function wire(tensor: ContractTensor): WireTensor {
  const spec: TensorSpec = { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape };
  return decodeInputs([{ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: tensor.values }], [spec])[0]!;
}

function plainValues(datatype: Datatype, data: WireTensor["data"]): (number | string | boolean)[] {
  if (Array.isArray(data)) return data;
  if (datatype === "BOOL") return Array.from(data as Uint8Array, (value) => value !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (value) => Number(value));
  return Array.from(data as Float32Array);
}

function fromRaw(name: string, datatype: Datatype, shape: number[], bytes: Uint8Array): ContractTensor {
  const count = shape.reduce((product, dimension) => product * dimension, 1);
  return { name, datatype, shape, values: plainValues(datatype, fromRawBytes(bytes, datatype, count, name)) };
}

export function restJson(baseUrl: string): Transport {
  return {
    name: "REST JSON",
    async infer(request) {
      const path = request.version ? `/v2/models/${request.model}/versions/${request.version}/infer` : `/v2/models/${request.model}/infer`;
      const response = await fetch(baseUrl + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          id: request.id,
          inputs: request.inputs.map((tensor) => ({ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape, data: tensor.values })),
          ...(request.outputs && { outputs: request.outputs.map((name) => ({ name })) }),
        }),
      });
      const body = (await response.json()) as Record<string, unknown>;
      if (response.status !== 200) return { ok: false, code: body.code as string };
      const outputs = (body.outputs as { name: string; datatype: Datatype; shape: number[]; data: (number | string | boolean)[] }[]).map((output) => ({
        name: output.name,
        datatype: output.datatype,
        shape: output.shape,
        values: output.data,
      }));
      return { ok: true, model_name: body.model_name as string, model_version: body.model_version as string, id: body.id as string, outputs };
    },
    close() {},
  };
}

export function restBinary(baseUrl: string): Transport {
  const encoder = new TextEncoder();
  return {
    name: "REST binary",
    async infer(request) {
      const path = request.version ? `/v2/models/${request.model}/versions/${request.version}/infer` : `/v2/models/${request.model}/infer`;
      const raws = request.inputs.map((tensor) => toRawBytes(wire(tensor)));
      const header = encoder.encode(
        JSON.stringify({
          id: request.id,
          inputs: request.inputs.map((tensor, index) => ({
            name: tensor.name,
            datatype: tensor.datatype,
            shape: tensor.shape,
            parameters: { binary_data_size: raws[index]!.byteLength },
          })),
          ...(request.outputs && { outputs: request.outputs.map((name) => ({ name })) }),
          parameters: { binary_data_output: true },
        }),
      );
      const response = await fetch(baseUrl + path, {
        method: "POST",
        headers: { "content-type": "application/octet-stream", "inference-header-content-length": String(header.byteLength) },
        body: Buffer.concat([header, ...raws]),
      });
      const bytes = new Uint8Array(await response.arrayBuffer());
      const headerLength = Number(response.headers.get("inference-header-content-length") ?? bytes.byteLength);
      const body = JSON.parse(new TextDecoder().decode(bytes.subarray(0, headerLength))) as Record<string, unknown>;
      if (response.status !== 200) return { ok: false, code: body.code as string };
      let offset = headerLength;
      const outputs = (body.outputs as { name: string; datatype: Datatype; shape: number[]; parameters: { binary_data_size: number } }[]).map((output) => {
        const size = output.parameters.binary_data_size;
        const tensor = fromRaw(output.name, output.datatype, output.shape, bytes.subarray(offset, offset + size));
        offset += size;
        return tensor;
      });
      return { ok: true, model_name: body.model_name as string, model_version: body.model_version as string, id: body.id as string, outputs };
    },
    close() {},
  };
}

type UnaryMethod = (request: unknown, metadata: Metadata, callback: (error: ServiceError | null, response: Record<string, unknown>) => void) => void;

function grpcClient(target: string, files: string[], service: string): Client & Record<string, UnaryMethod> {
  const { grpcObject } = loadProtos(files);
  const constructor = service.split(".").reduce<unknown>((scope, part) => (scope as Record<string, unknown>)[part], grpcObject) as new (
    target: string,
    channelCredentials: ChannelCredentials,
  ) => Client & Record<string, UnaryMethod>;
  return new constructor(target, credentials.createInsecure());
}

function call(client: Record<string, UnaryMethod>, method: string, request: unknown): Promise<{ ok: true; response: Record<string, unknown> } | { ok: false; code: string }> {
  return new Promise((resolve) => {
    client[method]!.call(client, request, new Metadata(), (error, response) => {
      if (error) resolve({ ok: false, code: String(error.metadata?.get("x-modelmora-code")[0] ?? error.code) });
      else resolve({ ok: true, response });
    });
  });
}

/** Typed `contents` field per datatype (FP16 has none: KServe sends it raw). */
const CONTENTS_FIELD: Partial<Record<Datatype, string>> = {
  BOOL: "bool_contents", INT8: "int_contents", INT16: "int_contents", INT32: "int_contents", INT64: "int64_contents",
  UINT8: "uint_contents", UINT16: "uint_contents", UINT32: "uint_contents", UINT64: "uint64_contents",
  FP32: "fp32_contents", FP64: "fp64_contents", BYTES: "bytes_contents",
};

interface ProtoOutput {
  name: string;
  datatype: Datatype;
  shape: string[];
  contents: Record<string, unknown[]> | null;
}

export function kserveGrpc(target: string): Transport {
  const client = grpcClient(target, ["kserve/grpc_predict_v2.proto"], "inference.GRPCInferenceService");
  return {
    name: "KServe gRPC (typed contents)",
    async infer(request) {
      const answer = await call(client, "ModelInfer", {
        model_name: request.model,
        model_version: request.version ?? "",
        id: request.id,
        inputs: request.inputs.map((tensor) => ({
          name: tensor.name,
          datatype: tensor.datatype,
          shape: tensor.shape.map(String),
          contents: { [CONTENTS_FIELD[tensor.datatype]!]: tensor.datatype === "BYTES" ? tensor.values.map((value) => Buffer.from(String(value))) : tensor.values.map((value) => (typeof value === "bigint" ? String(value) : value)) },
        })),
        outputs: (request.outputs ?? []).map((name) => ({ name })),
      });
      if (!answer.ok) return answer;
      const response = answer.response;
      const outputs = (response.outputs as ProtoOutput[]).map((output, index) => {
        const shape = output.shape.map(Number);
        const raw = (response.raw_output_contents as Buffer[])[index];
        if (raw) return fromRaw(output.name, output.datatype, shape, new Uint8Array(raw));
        const values = (output.contents?.[CONTENTS_FIELD[output.datatype]!] ?? []) as (number | string | boolean | Buffer)[];
        return {
          name: output.name,
          datatype: output.datatype,
          shape,
          values: values.map((value) => (Buffer.isBuffer(value) ? value.toString("utf8") : output.datatype === "INT64" || output.datatype === "UINT64" ? Number(value) : value)),
        };
      });
      return { ok: true, model_name: response.model_name as string, model_version: response.model_version as string, id: response.id as string, outputs };
    },
    close: () => client.close(),
  };
}

export function modelmoraGrpc(target: string): Transport {
  const client = grpcClient(target, ["modelmora/v1/inference.proto"], "modelmora.v1.InferenceService");
  return {
    name: "modelmora gRPC (raw contents)",
    async infer(request) {
      const answer = await call(client, "Infer", {
        model: request.model,
        version: request.version ?? "",
        id: request.id,
        inputs: request.inputs.map((tensor) => ({ name: tensor.name, datatype: tensor.datatype, shape: tensor.shape.map(String) })),
        raw_input_contents: request.inputs.map((tensor) => Buffer.from(toRawBytes(wire(tensor)))),
        outputs: (request.outputs ?? []).map((name) => ({ name })),
      });
      if (!answer.ok) return answer;
      const response = answer.response;
      const raws = response.raw_output_contents as Buffer[];
      const outputs = (response.outputs as ProtoOutput[]).map((output, index) => fromRaw(output.name, output.datatype, output.shape.map(Number), new Uint8Array(raws[index]!)));
      return { ok: true, model_name: response.model_name as string, model_version: response.model_version as string, id: response.id as string, outputs };
    },
    close: () => client.close(),
  };
}
