/**
 * Dynamic batch formation as a pure function, after Triton's `GetDynamicBatch`: given the
 * compatible requests at the head of a model's queue (in priority order) and the clock, answer
 * "send the first N now" or "wait N µs for more". No state, no timers: tested with a fake clock.
 *
 * Rules, in order:
 * 1. A model that does not batch (`maxBatchSize` ≤ 1) sends one request at a time.
 * 2. Requests join while their rows fit in `maxBatchSize`; a head with more rows than that runs alone.
 * 3. A full batch (the next request does not fit, or rows reached `maxBatchSize`) is sent.
 * 4. Once rows reach the largest preferred size, the largest prefix that is exactly a preferred
 *    size is sent (or everything that fits when no prefix matches exactly).
 * 5. A CRITICAL head (priority 1) is sent at once, with only the CRITICAL requests gathered behind it
 *    (within `maxBatchSize`): rows of lower priority would add their compute to its latency (a
 *    CRITICAL request after a flood of LOW ones would otherwise run in a full batch of them).
 * 6. When the head has waited `maxQueueDelayMicroseconds`, whatever has gathered is sent.
 * 7. Otherwise: wait until the head's delay runs out.
 *
 * A batch that takes everything gathered is then shared among the idle replicas (`shareBatch`).
 */

export interface BatchPolicy {
  /** Largest batch in rows (dim 0); 0 or 1 = never batch. */
  maxBatchSize: number;
  /** Batch sizes the model runs best at; sent as soon as reachable. */
  preferredBatchSizes: readonly number[];
  /** How long the head request may wait for company. */
  maxQueueDelayMicroseconds: number;
}

export interface BatchCandidate {
  /** dim 0 of the request's inputs. */
  rows: number;
  priority: number;
  enqueuedAtMicroseconds: number;
}

export type BatchDecision = { kind: "send"; count: number } | { kind: "wait"; microseconds: number };

const CRITICAL = 1;

export function formBatch(candidates: readonly BatchCandidate[], policy: BatchPolicy, nowMicroseconds: number): BatchDecision {
  const head = candidates[0];
  if (!head) throw new Error("formBatch needs at least one candidate (this is a bug)");
  if (policy.maxBatchSize <= 1) return { kind: "send", count: 1 };
  if (head.priority === CRITICAL) return { kind: "send", count: criticalPrefix(candidates, policy.maxBatchSize) };

  let count = 0;
  let rows = 0;
  const prefixRows: number[] = [];
  while (count < candidates.length && rows + candidates[count]!.rows <= policy.maxBatchSize) {
    rows += candidates[count]!.rows;
    prefixRows.push(rows);
    count++;
  }
  // A request with more rows than the batch limit runs alone, as it would on a model that does not batch.
  if (count === 0) return { kind: "send", count: 1 };
  if (count < candidates.length || rows === policy.maxBatchSize) return { kind: "send", count };

  const largestPreferred = policy.preferredBatchSizes.reduce((largest, size) => Math.max(largest, size), 0);
  if (largestPreferred > 0 && rows >= largestPreferred) {
    for (let prefix = count; prefix > 0; prefix--) {
      if (policy.preferredBatchSizes.includes(prefixRows[prefix - 1]!)) return { kind: "send", count: prefix };
    }
    return { kind: "send", count };
  }

  const waitedMicroseconds = nowMicroseconds - head.enqueuedAtMicroseconds;
  if (waitedMicroseconds >= policy.maxQueueDelayMicroseconds) return { kind: "send", count };
  return { kind: "wait", microseconds: policy.maxQueueDelayMicroseconds - waitedMicroseconds };
}

/** The CRITICAL requests at the head whose rows fit in `maxBatchSize` (the head at least). */
function criticalPrefix(candidates: readonly BatchCandidate[], maxBatchSize: number): number {
  let count = 0;
  let rows = 0;
  for (const candidate of candidates) {
    if (candidate.priority !== CRITICAL || rows + candidate.rows > maxBatchSize) break;
    rows += candidate.rows;
    count++;
  }
  return Math.max(1, count);
}

/**
 * How a batch is shared among `idleReplicas` free worker replicas: the number of consecutive requests
 * each gets, rows as even as the requests allow, at least one request each (fewer parts than replicas
 * when there are fewer requests). One replica gets it all when only one is idle.
 *
 * Why: under a closed loop (clients that send again once answered) every request comes back to the
 * queue at about the same time; sent as one batch, they keep one replica busy and the others idle
 * until it returns, every round. On a CPU each replica has its own cores' worth of work only when the
 * batch is shared (bench/README.md, embeddings).
 *
 * @example shareBatch([1, 1, 1, 1, 1], 2) // [2, 3]
 */
export function shareBatch(rows: readonly number[], idleReplicas: number): number[] {
  const parts = Math.max(1, Math.min(idleReplicas, rows.length));
  const counts: number[] = [];
  let remainingRows = rows.reduce((sum, count) => sum + count, 0);
  let index = 0;
  for (let part = parts; part > 1; part--) {
    const target = remainingRows / part;
    let taken = 0;
    let count = 0;
    // Leave at least one request for each later part.
    while (index + count < rows.length - (part - 1) && (count === 0 || taken + rows[index + count]! <= target)) taken += rows[index + count++]!;
    counts.push(count);
    index += count;
    remainingRows -= taken;
  }
  counts.push(rows.length - index);
  return counts;
}
