/**
 * The audit log: one JSON line (`"event":"audit"`) per admin action on either transport, saying
 * who (the key id, never the key), what (method and path, or the gRPC method) and the result (the
 * HTTP status or gRPC status name). Written through the server's logger at `info`.
 */
import type { Logger } from "../observability/logger.ts";

export interface AuditEntry {
  keyId: string;
  transport: "rest" | "grpc";
  /** `POST /api/v1/models` or `/modelmora.v1.RegistryService/RegisterModel`. */
  action: string;
  /** `201`, `403`, `OK`, `PERMISSION_DENIED` … */
  result: string;
  /** The domain error code, when it failed. */
  code?: string;
}

export function audit(logger: Logger, entry: AuditEntry): void {
  logger.info({ event: "audit", key_id: entry.keyId, transport: entry.transport, action: entry.action, result: entry.result, ...(entry.code && { code: entry.code }) }, "admin action");
}
