/**
 * Loads the .proto files under proto/ with one set of options, so every service decodes messages
 * the same way: field names as written (snake_case), 64-bit integers as decimal strings (no
 * precision lost), enums as names, unset fields as their defaults, `bytes` as Buffers.
 */
import { type GrpcObject, loadPackageDefinition } from "@grpc/grpc-js";
import { type PackageDefinition, loadSync, type Options } from "@grpc/proto-loader";
import { EMBEDDED_ASSETS, assetPath } from "../../runtime/embedded-assets.ts";

/** proto/ in the repository, or its embedded copy in the compiled binary. */
export const PROTO_DIRECTORY = assetPath(EMBEDDED_ASSETS.protos);

export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIRECTORY],
};

/** `files` relative to proto/, e.g. "kserve/grpc_predict_v2.proto". */
export function loadProtos(files: string[]): { definition: PackageDefinition; grpcObject: GrpcObject } {
  const definition = loadSync(files, PROTO_LOADER_OPTIONS);
  return { definition, grpcObject: loadPackageDefinition(definition) };
}
