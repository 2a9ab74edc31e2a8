/**
 * What the pool needs from a worker process and what a worker answers: the handle's contract, which
 * tests of pool policy fake, apart from the process that implements it (worker-process.ts).
 */
import { ModelMoraError } from "../errors.ts";
import type { GenerateSettings, LoadMessage, Provider, SequenceStep, TensorSpec, TransportTensor, WireTensor } from "../../workers/protocol.ts";

export interface LoadedSignature {
  provider: Provider;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  loadMilliseconds: number;
  notes: string[];
}

export interface InferResult {
  /**
   * One output set per item of the batch, in order. Numeric outputs are views into the worker's
   * output arena: valid until `release` is called for that item.
   */
  itemOutputs: WireTensor[][];
  /** When the worker started on the batch (epoch milliseconds, read by the worker). */
  computeStartedAtMilliseconds?: number;
  computeMicroseconds: number;
  /**
   * Hands item `index`'s outputs back; the block returns to the worker once every item has. Absent
   * when the outputs are owned copies (inline answers, fakes in tests).
   */
  release?: (index: number) => void;
}

export interface WorkerExit {
  exitCode: number | null;
  signalCode: string | null;
}

/** What the pool needs from a worker; tests of pool policy inject fakes of this. */
export interface WorkerHandle {
  readonly pid: number;
  /** Resolves once the process has exited, whatever the reason. */
  readonly exited: Promise<WorkerExit>;
  load(request: Omit<LoadMessage, "type">): Promise<LoadedSignature>;
  /** Runs one batch: each item is one request's inputs (see workers/protocol.ts InferMessage). */
  infer(items: TransportTensor[][], outputNames?: string[]): Promise<InferResult>;
  /** SIGTERM, then SIGKILL after `graceMilliseconds`; resolves when the process is gone. */
  terminate(graceMilliseconds?: number): Promise<WorkerExit>;
  /**
   * txt2txt: starts one sequence (see workers/protocol.ts GenerateMessage); throws WorkerGoneError
   * when the worker was gone before it was sent. Absent in fakes.
   */
  generate?(settings: GenerateSettings, onStep: (step: SequenceStep) => void): GenerationHandle;
}

/** A running sequence: `finished` settles with its last step (or the failure); `cancel` ends it within one step. */
export interface GenerationHandle {
  finished: Promise<SequenceStep>;
  cancel(): void;
}

/** `label` ("name@version") goes on the worker's command line so that `ps` names its model. */
export type SpawnWorker = (label?: string) => WorkerHandle;

/**
 * The worker was already gone when a request was about to be sent: the request never reached
 * it, so the pool may safely send it to a fresh worker instead of failing it.
 */
export class WorkerGoneError extends ModelMoraError {
  constructor(readonly pid: number) {
    super("INFERENCE_FAILED", `worker process ${pid} was gone before the request was sent`);
  }
}
