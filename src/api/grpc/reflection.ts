/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, @grpc/reflection), so tools such as
 * grpcurl or Postman can list and describe the services without the .proto files.
 *
 * It describes every .proto under proto/ (so services added there later are covered without a
 * change here), the health proto and the reflection protos themselves, but lists only the services
 * the server really registered.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import type { Server } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { EMBEDDED_ASSETS, assetPath } from "../../runtime/embedded-assets.ts";
import { PROTO_DIRECTORY, PROTO_LOADER_OPTIONS } from "./proto-loading.ts";

export const REFLECTION_SERVICE_NAMES = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/** @grpc/reflection's build/proto, where the package keeps its reflection protos (embedded in the binary). */
const REFLECTION_PROTO_DIRECTORY = assetPath(EMBEDDED_ASSETS.reflectionProtos);
/** …/proto/health/v1/health.proto → …/proto */
const HEALTH_PROTO_DIRECTORY = path.resolve(path.dirname(healthProtoPath), "..", "..");

/** Adds reflection over `services` (fully-qualified names, as registered on `server`). */
export function addReflectionService(server: Pick<Server, "addService">, services: string[]): void {
  const definition = loadSync(
    [
      ...protoFilesUnder(PROTO_DIRECTORY),
      "health/v1/health.proto",
      "grpc/reflection/v1/reflection.proto",
      "grpc/reflection/v1alpha/reflection.proto",
    ],
    { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_DIRECTORY, HEALTH_PROTO_DIRECTORY, REFLECTION_PROTO_DIRECTORY] },
  );
  // @grpc/reflection depends on an older proto-loader whose PackageDefinition type differs only in name.
  new ReflectionService(definition as ConstructorParameters<typeof ReflectionService>[0], { services }).addToServer(server);
}

/** Paths relative to `directory`, sorted, of every .proto below it. */
function protoFilesUnder(directory: string): string[] {
  return (readdirSync(directory, { recursive: true, encoding: "utf8" }) as string[])
    .filter((file) => file.endsWith(".proto"))
    .map((file) => file.split(path.sep).join("/"))
    .sort();
}
