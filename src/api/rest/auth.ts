/**
 * API-key authentication and scopes on every REST route (src/security/access.ts decides which
 * scope a route needs), checked in `onRequest`, before the body is read. Failures go through the
 * error mapping like any other (401 UNAUTHENTICATED, 403 FORBIDDEN). Every request to an admin
 * route, allowed or refused, leaves one audit line with its status. Handlers read the caller with
 * `requestPrincipal` (jobs belong to the key that submitted them).
 */
import { Elysia } from "elysia";
import { ModelMoraError } from "../../errors.ts";
import type { Logger } from "../../observability/logger.ts";
import type { ApiKeys, Principal } from "../../security/api-keys.ts";
import { type Requirement, authorize, restRequirement } from "../../security/access.ts";
import { audit } from "../../security/audit.ts";
import { HTTP_STATUS } from "./error-mapping.ts";
import { originalRequest } from "./request-identity.ts";

export interface RestAuthOptions {
  keys: ApiKeys;
  /** Exact paths answered without a key. */
  openPaths: ReadonlySet<string>;
  logger: Logger;
}

interface Caller {
  principal: Principal | undefined;
  requirement: Requirement;
  action: string;
  refusedKeyId: string | undefined;
  failedStatus?: number;
}

/**
 * Each request's caller, set in `onRequest`, keyed by the request as it first arrived (see
 * request-identity.ts: body-limit.ts may replace it on the way). One map for every app.
 */
const callers = new WeakMap<Request, Caller>();

/**
 * Who made a request the auth plugin let through, from the handler's `request`: always set on a
 * route that needs a scope (with no keys configured, the anonymous admin). Throws (a bug, answered
 * 500) where the plugin did not run.
 */
export function requestPrincipal(request: Request): Principal {
  const principal = callers.get(originalRequest(request))?.principal;
  if (!principal) throw new Error("no principal for this request: the auth plugin must run before this route");
  return principal;
}

export function authPlugin(options: RestAuthOptions) {
  return new Elysia({ name: "auth" })
    .onRequest(({ request }) => {
      const url = new URL(request.url);
      const requirement = restRequirement(request.method, url.pathname, options.openPaths);
      const action = `${request.method} ${url.pathname}`;
      const caller: Caller = { principal: undefined, requirement, action, refusedKeyId: undefined };
      callers.set(originalRequest(request), caller);
      try {
        caller.principal = authorize(options.keys, request.headers.get("authorization") ?? undefined, requirement);
      } catch (error) {
        // FORBIDDEN names the (valid) key that lacked the scope.
        caller.refusedKeyId = error instanceof ModelMoraError ? (error.details?.keyId as string | undefined) : undefined;
        throw error;
      }
    })
    .onError({ as: "global" }, ({ error, code, request }) => {
      const caller = callers.get(originalRequest(request));
      // Returns nothing: errorsPlugin, next in line, answers; this only keeps the status for the audit line.
      if (caller) caller.failedStatus = error instanceof ModelMoraError ? HTTP_STATUS[error.code] : code === "VALIDATION" || code === "PARSE" ? 400 : code === "NOT_FOUND" ? 404 : 500;
    })
    .onAfterResponse({ as: "global" }, ({ request, set }) => {
      const caller = callers.get(originalRequest(request));
      if (!caller || caller.requirement !== "admin") return;
      const status = caller.failedStatus ?? (typeof set.status === "number" ? set.status : 200);
      audit(options.logger, { keyId: caller.principal?.keyId ?? caller.refusedKeyId ?? presentedKeyId(request), transport: "rest", action: caller.action, result: String(status) });
    });
}

/** A refused request has no principal: say whether it came with a key at all. */
function presentedKeyId(request: Request): string {
  return request.headers.has("authorization") ? "unknown-key" : "no-key";
}
