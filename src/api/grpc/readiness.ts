/**
 * Server readiness as gRPC reports it (KServe ServerReady, the health service's "" status): the
 * same conditions as REST `/health/ready` — accepting requests, preload done, database answers.
 */
import type { Readiness } from "../rest/health.ts";

export async function isServerReady(readiness: Readiness): Promise<boolean> {
  if (!readiness.accepting() || !readiness.preloaded()) return false;
  try {
    await readiness.checkDatabase();
    return true;
  } catch {
    return false;
  }
}
