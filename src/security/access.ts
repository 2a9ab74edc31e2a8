/**
 * Which scope each REST route and gRPC method needs, and the one check both transports run:
 * `authorize` turns an `Authorization: Bearer <key>` value into the caller's Principal, or throws
 * UNAUTHENTICATED (no key, unknown key) / FORBIDDEN (a key whose scope is not enough). `admin`
 * covers everything `infer` may do.
 *
 * - open: liveness/readiness (and metrics), so probes and scrapers need no key.
 * - admin: the registry (register, list, get, config, delete, switch), load/unload, status
 *   details (`/api/v1/status`, `/health/models`: pids, RSS, last errors).
 * - infer: inference, model metadata and readiness, server metadata, the OpenAPI docs, reflection.
 */
import { ModelMoraError } from "../errors.ts";
import { ANONYMOUS_ADMIN, type ApiKeys, type Principal } from "./api-keys.ts";

export type Requirement = "open" | "infer" | "admin";

/**
 * The requirement of a REST request. `openPaths` are exact paths answered without a key.
 *
 * @example restRequirement("POST", "/api/v1/models", new Set(["/health/live"])) // "admin"
 */
export function restRequirement(method: string, pathname: string, openPaths: ReadonlySet<string>): Requirement {
  const normalized = pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
  if (openPaths.has(normalized)) return "open";
  if (normalized === "/api/v1/models" || normalized.startsWith("/api/v1/models/")) return "admin";
  if (normalized === "/api/v1/status" || normalized === "/health/models") return "admin";
  return "infer";
}

const OPEN_GRPC_METHODS = new Set([
  "/grpc.health.v1.Health/Check",
  "/grpc.health.v1.Health/Watch",
  "/inference.GRPCInferenceService/ServerLive",
  "/inference.GRPCInferenceService/ServerReady",
  "/modelmora.v1.ManagementService/Live",
  "/modelmora.v1.ManagementService/Ready",
]);

/** The requirement of a gRPC method, by its path `/package.Service/Method`. */
export function grpcRequirement(methodPath: string): Requirement {
  if (OPEN_GRPC_METHODS.has(methodPath)) return "open";
  if (methodPath.startsWith("/modelmora.v1.RegistryService/") || methodPath.startsWith("/modelmora.v1.ManagementService/")) return "admin";
  return "infer";
}

/**
 * The caller of a request that needs `requirement`, given its authorization header value (REST
 * header or gRPC metadata). With no keys configured everyone is the anonymous admin.
 */
export function authorize(keys: ApiKeys, authorization: string | undefined, requirement: Requirement): Principal | undefined {
  if (!keys.enabled) return ANONYMOUS_ADMIN;
  const presented = bearerToken(authorization);
  const principal = presented === undefined ? undefined : keys.identify(presented);
  if (requirement === "open") return principal;
  if (presented === undefined) throw new ModelMoraError("UNAUTHENTICATED", "an API key is required: send Authorization: Bearer <key>");
  if (!principal) throw new ModelMoraError("UNAUTHENTICATED", "the API key is not valid");
  if (requirement === "admin" && principal.scope !== "admin") {
    throw new ModelMoraError("FORBIDDEN", `this needs an API key with the admin scope; key ${principal.keyId} has scope ${principal.scope}`, { keyId: principal.keyId });
  }
  return principal;
}

/** `Bearer <key>` (scheme case-insensitive) → the key; anything else → undefined. */
function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1];
}
