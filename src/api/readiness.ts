/**
 * Server readiness, one definition for every front end (REST /health/ready and /v2/health/ready,
 * gRPC ServerReady, grpc.health.v1 and ManagementService.Ready): not shutting down, preload done,
 * database reachable, checked in that order.
 */

export interface Readiness {
  /** False once shutdown has begun. */
  accepting(): boolean;
  /** False until the models marked `preload` have loaded (or failed to). */
  preloaded(): boolean;
  /** Throws when the database cannot be reached. */
  checkDatabase(): Promise<void>;
}

export type ReadinessStatus = "ready" | "shutting_down" | "preloading" | "database_unavailable";

export async function readinessStatus(readiness: Readiness): Promise<ReadinessStatus> {
  if (!readiness.accepting()) return "shutting_down";
  if (!readiness.preloaded()) return "preloading";
  try {
    await readiness.checkDatabase();
    return "ready";
  } catch {
    return "database_unavailable";
  }
}

export async function isServerReady(readiness: Readiness): Promise<boolean> {
  return (await readinessStatus(readiness)) === "ready";
}
