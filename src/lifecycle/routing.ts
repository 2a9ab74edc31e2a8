/**
 * Routing among a model's replicas: a batch goes to the replica with the fewest batches in flight
 * (the first such one on a tie, so a single-replica model always uses its one worker).
 * Only ready references are routed to; the caller counts the batch in `inFlight` while it runs.
 */
import type { Replica } from "./model-ref.ts";

/** @example leastBusy([{ worker: a, inFlight: 2 }, { worker: b, inFlight: 0 }]) // the replica of b */
export function leastBusy(replicas: readonly Replica[]): Replica {
  let best = replicas[0]!;
  for (const replica of replicas) if (replica.inFlight < best.inFlight) best = replica;
  return best;
}
