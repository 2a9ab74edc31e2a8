/** ModelMora's queue totals from `GET /api/v1/status`, for the mean batch size a bench cell ran. */
import type { ListeningServer } from "./processes.ts";

export interface QueueCounters {
  dispatched: number;
  batches: number;
}

/** The totals when the server reports them (best effort: undefined otherwise). */
export async function queueCounters(server: ListeningServer): Promise<QueueCounters | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/status`);
    const queue = ((await response.json()) as { queue?: Partial<QueueCounters> }).queue;
    return typeof queue?.dispatched === "number" && typeof queue.batches === "number" ? { dispatched: queue.dispatched, batches: queue.batches } : undefined;
  } catch {
    return undefined;
  }
}

/** Requests per batch between two readings. */
export function meanBatch(before: QueueCounters | undefined, after: QueueCounters | undefined): number | undefined {
  if (!before || !after || after.batches === before.batches) return undefined;
  return (after.dispatched - before.dispatched) / (after.batches - before.batches);
}
