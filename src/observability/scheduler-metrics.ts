/**
 * A SchedulerObserver that records queue time, compute time and batch size per model version.
 * The scheduler names its queues `name@version#sha256` (src/inference/service.ts); the labels are
 * the name and version.
 */
import type { SchedulerObserver } from "../scheduler/model-scheduler.ts";
import type { Metrics } from "./metrics.ts";

export function schedulerMetricsObserver(metrics: Metrics): SchedulerObserver {
  return {
    onDispatch(queue, batchSize, _rows, queueMicroseconds) {
      const labels = queueLabels(queue);
      metrics.batchSize.observe(labels, batchSize);
      for (const waited of queueMicroseconds) metrics.queueDuration.observe(labels, waited / 1e6);
    },
    onComplete(queue, _batchSize, computeMicroseconds) {
      metrics.computeDuration.observe(queueLabels(queue), computeMicroseconds / 1e6);
    },
  };
}

/** `name@version#sha256` → { model, version }; a key without those parts is the model name. */
export function queueLabels(queue: string): { model: string; version: string } {
  const hash = queue.lastIndexOf("#");
  const withoutHash = hash >= 0 ? queue.slice(0, hash) : queue;
  const at = withoutHash.lastIndexOf("@");
  return at >= 0 ? { model: withoutHash.slice(0, at), version: withoutHash.slice(at + 1) } : { model: withoutHash, version: "" };
}
