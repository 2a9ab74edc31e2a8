/**
 * API-key authentication and scopes on every gRPC method, as a grpc-js server interceptor: the
 * `authorization` metadata (`Bearer <key>`) is checked when the call's metadata arrives, before any
 * message is read; a refusal ends the call with the mapped status (UNAUTHENTICATED,
 * PERMISSION_DENIED) and `x-modelmora-code`. Admin methods leave one audit line with their status.
 * Handlers read the caller with `callPrincipal` (jobs belong to the key that submitted them).
 */
import { type Metadata, type ServerInterceptor, ServerInterceptingCall, ServerListenerBuilder, ResponderBuilder, status as grpcStatus } from "@grpc/grpc-js";
import { ModelMoraError } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import { ANONYMOUS_ADMIN, type ApiKeys, type Principal } from "../../security/api-keys.ts";
import { authorize, grpcRequirement } from "../../security/access.ts";
import { audit } from "../../security/audit.ts";
import { toServiceError } from "./status-mapping.ts";

/** Each call's caller, keyed by the metadata object the interceptor hands on to the handler. */
const principals = new WeakMap<Metadata, Principal>();

/**
 * Who made a call: the principal the interceptor recorded; the anonymous admin on a server built
 * without the interceptor (no authentication: in-process tests).
 */
export function callPrincipal(call: { metadata: Metadata }): Principal {
  return principals.get(call.metadata) ?? ANONYMOUS_ADMIN;
}

export interface GrpcAuthOptions {
  keys: ApiKeys;
  logger: Logger;
}

/**
 * @example new Server({ interceptors: [authInterceptor({ keys, logger })] })
 */
export function authInterceptor(options: GrpcAuthOptions): ServerInterceptor {
  return (methodDescriptor, call) => {
    const requirement = grpcRequirement(methodDescriptor.path);
    let keyId = "no-key";
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const authorization = metadata.get("authorization")[0];
        if (authorization !== undefined) keyId = "unknown-key";
        try {
          const principal = authorize(options.keys, authorization === undefined ? undefined : String(authorization), requirement);
          if (principal) {
            keyId = principal.keyId;
            principals.set(metadata, principal);
          }
        } catch (error) {
          if (error instanceof ModelMoraError && typeof error.details?.keyId === "string") keyId = error.details.keyId;
          const refusal = toServiceError(error);
          call.sendStatus({ code: refusal.code!, details: refusal.details!, metadata: refusal.metadata! });
          return;
        }
        next(metadata);
      })
      .build();
    const responder = new ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        if (requirement === "admin") {
          const code = status.metadata?.get("x-modelmora-code")[0];
          audit(options.logger, { keyId, transport: "grpc", action: methodDescriptor.path, result: grpcStatus[status.code] ?? String(status.code), ...(code !== undefined && { code: String(code) }) });
        }
        next(status);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}
