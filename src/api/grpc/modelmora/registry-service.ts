/**
 * modelmora.v1.RegistryService: the model catalogue over gRPC, the same operations and rules as
 * /api/v1/models. Every RPC answers the model as a `Model` message.
 */
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import type { ModelView } from "../../../inference/models-service.ts";
import type { TensorSpec } from "../../../registry/tensor-spec.ts";
import type { GrpcDependencies } from "../dependencies.ts";
import { type RegisterModelRequest, toConfigPatch, toRegisterModelInput } from "./request-validation.ts";
import { unary } from "../unary.ts";

export interface ModelMessage {
  name: string;
  task: string;
  active_version: string;
  versions: { version: string; sha256: string; size_bytes: number; source: string; created_at: string }[];
  config_json: string;
  inputs: TensorMetadataMessage[];
  outputs: TensorMetadataMessage[];
  state: string;
  created_at: string;
  updated_at: string;
}

export interface TensorMetadataMessage {
  name: string;
  datatype: string;
  shape: number[];
}

export function registryServiceHandlers({ models, logger }: GrpcDependencies): UntypedServiceImplementation {
  return {
    RegisterModel: unary(logger, async (request: RegisterModelRequest) => toModelMessage(await models.register(toRegisterModelInput(request)))),
    ListModels: unary(logger, async (request: { task: string }) => ({
      models: (await models.list(request.task === "" ? {} : { task: request.task })).map(toModelMessage),
    })),
    GetModel: unary(logger, async (request: { name: string }) => toModelMessage(await models.get(request.name))),
    UpdateModelConfig: unary(logger, async (request: { name: string; config_json: string }) =>
      toModelMessage(await models.updateConfig(request.name, toConfigPatch(request.config_json))),
    ),
    DeleteModel: unary(logger, async (request: { name: string }) => toModelMessage(await models.delete(request.name))),
    SetActiveVersion: unary(logger, async (request: { name: string; version: string }) => toModelMessage(await models.setActiveVersion(request.name, request.version))),
  };
}

export function toModelMessage(model: ModelView): ModelMessage {
  return {
    name: model.name,
    task: model.task,
    active_version: model.activeVersion,
    versions: model.versions.map((version) => ({
      version: version.version,
      sha256: version.sha256,
      size_bytes: version.sizeBytes,
      source: version.source,
      created_at: version.createdAt,
    })),
    config_json: JSON.stringify(model.config),
    inputs: model.inputs.map(toTensorMetadata),
    outputs: model.outputs.map(toTensorMetadata),
    state: model.state,
    created_at: model.createdAt,
    updated_at: model.updatedAt,
  };
}

function toTensorMetadata(spec: TensorSpec): TensorMetadataMessage {
  return { name: spec.name, datatype: spec.datatype, shape: spec.shape };
}
