/**
 * How a model version's requests are batched, as pure functions of the resolved version and the
 * checked request: whether the model batches at all, its queue policy, a request's rows and batch
 * signature, and what a formed batch asks of the pool.
 */
import { invalidInput } from "../errors.ts";
import type { InferOptions } from "../lifecycle/pool.ts";
import type { ResolvedVersion } from "../registry/registry.ts";
import type { QueuePolicy } from "../scheduler/model-scheduler.ts";
import type { CheckedInputs } from "./tensor-codec.ts";

/** A model batches when every input and output has a dynamic dim 0. */
export function isBatchable(target: Pick<ResolvedVersion, "inputs" | "outputs">): boolean {
  return [...target.inputs, ...target.outputs].every((spec) => spec.shape.length > 0 && spec.shape[0] === -1);
}

/** The model's config as its queue's policy; a model that cannot batch runs one request at a time. */
export function queuePolicy(target: ResolvedVersion, batchable: boolean): QueuePolicy {
  const { config } = target;
  return {
    maxBatchSize: batchable ? config.maxBatchSize : 0,
    preferredBatchSizes: config.preferredBatchSizes,
    maxQueueDelayMicroseconds: config.maxQueueDelayMicroseconds,
    maxQueueSize: config.maxQueueSize,
    defaultTimeoutMicroseconds: config.defaultTimeoutMicroseconds,
    timeoutAction: config.timeoutAction,
    concurrency: Math.max(1, config.replicas),
  };
}

/** Dim 0 of the request's inputs, which all must share; a batch needs at least one row. */
export function batchRows(checked: CheckedInputs): number {
  const rows = checked.rows!;
  checked.inputs.forEach(({ tensor, field }) => {
    if (tensor.shape[0] !== rows) {
      throw invalidInput(`${field}.shape: dimension 0 is ${tensor.shape[0]} but inputs[0] has ${rows}; batch dimensions must agree`, {
        field: `${field}.shape`,
      });
    }
  });
  if (rows === 0) throw invalidInput("inputs[0].shape: dimension 0 (the batch) is 0; send at least one row", { field: "inputs[0].shape" });
  return rows;
}

/** Requests batch together when everything but dim 0 matches, and they ask for the same outputs. */
export function batchSignature(checked: CheckedInputs, outputNames: string[] | undefined): string {
  let signature = outputNames ? outputNames.join(",") : "*";
  for (const { tensor, spec } of checked.inputs) signature += `|${spec.name}:${spec.datatype}:${tensor.shape.slice(1).join("x")}`;
  return signature;
}

/** What one queued request contributes to its batch's options. */
export interface BatchMember {
  /** When the request's deadline passes (epoch milliseconds); undefined = none. */
  deadlineAtMilliseconds: number | undefined;
  keepAliveSeconds: number | undefined;
}

/**
 * What a batch asks of the pool: it may wait for memory until its last request's deadline (none if
 * any request has none), and the longest keep-alive any request asked for wins (-1 beats all).
 */
export function batchOptions(members: readonly BatchMember[]): InferOptions {
  let deadlineAtMilliseconds: number | undefined = 0;
  let keepAliveSeconds: number | undefined;
  for (const member of members) {
    if (deadlineAtMilliseconds !== undefined) {
      deadlineAtMilliseconds = member.deadlineAtMilliseconds === undefined ? undefined : Math.max(deadlineAtMilliseconds, member.deadlineAtMilliseconds);
    }
    const wanted = member.keepAliveSeconds;
    if (wanted !== undefined && keepAliveSeconds !== -1) keepAliveSeconds = wanted === -1 || keepAliveSeconds === undefined ? wanted : Math.max(keepAliveSeconds, wanted);
  }
  return { deadlineAtMilliseconds, keepAliveSeconds };
}
