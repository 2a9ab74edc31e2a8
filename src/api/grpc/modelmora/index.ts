/**
 * ModelMora's own gRPC API, package modelmora.v1 (proto/modelmora/v1/*.proto): InferenceService,
 * RegistryService and ManagementService, over the same services the REST API calls.
 *
 * @example
 * const server = new grpc.Server();
 * const names = addModelmoraServices(server, { inference, models, status, readiness, logger });
 * // names: ["modelmora.v1.InferenceService", "modelmora.v1.RegistryService", "modelmora.v1.ManagementService"]
 * // reflection: loadProtos([...KSERVE_FILES, ...MODELMORA_PROTO_FILES]).definition
 */
import type { Server, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import type { GrpcDependencies } from "../dependencies.ts";
import { loadProtos } from "../proto-loading.ts";
import { inferenceServiceHandlers } from "./inference-service.ts";
import { jobServiceHandlers } from "./jobs-service.ts";
import { managementServiceHandlers } from "./management-service.ts";
import { registryServiceHandlers } from "./registry-service.ts";
import { withReusedChunkBuffer } from "./stream-chunk-encoding.ts";

/** The .proto files of modelmora.v1, relative to proto/ (they import kserve/grpc_predict_v2.proto). */
export const MODELMORA_PROTO_FILES = ["modelmora/v1/inference.proto", "modelmora/v1/registry.proto", "modelmora/v1/management.proto"];

const SERVICES: Record<string, (dependencies: GrpcDependencies) => UntypedServiceImplementation> = {
  "modelmora.v1.InferenceService": (dependencies) => ({ ...inferenceServiceHandlers(dependencies), ...jobServiceHandlers(dependencies) }),
  "modelmora.v1.RegistryService": registryServiceHandlers,
  "modelmora.v1.ManagementService": managementServiceHandlers,
};

/** Adds the three modelmora.v1 services to `server`; returns their fully-qualified names. */
export function addModelmoraServices(server: Server, dependencies: GrpcDependencies): string[] {
  const { definition } = loadProtos(MODELMORA_PROTO_FILES);
  return Object.entries(SERVICES).map(([name, handlers]) => {
    const service = definition[name] as ServiceDefinition;
    server.addService(name === "modelmora.v1.InferenceService" ? withReusedChunkBuffer(service) : service, handlers(dependencies));
    return name;
  });
}
