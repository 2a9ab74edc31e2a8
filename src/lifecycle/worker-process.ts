/**
 * The server's handle on one worker process (one model version, one onnxruntime session).
 * Correlates IPC requests with replies, and fails every pending request when the process exits.
 * Owns the worker's output arena file: answers arrive as views into it, and their block is handed
 * back to the worker (on the next `infer`, or in a `release` message) once every request of the
 * batch has released its outputs. Only the pool (src/lifecycle/pool.ts) creates and owns these.
 */
import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { ModelMoraError } from "../errors.ts";
import { type WorkerResourceLimits, workerCommand } from "../runtime/worker-command.ts";
import { mapArenaBlock } from "../../workers/arena.ts";
import { typedView } from "../../workers/datatypes.ts";
import { type JsonPacked, pack, unpack } from "../../workers/channel.ts";
import { type GenerateSettings, isShared, type SequenceStep, type LoadMessage, type ServerToWorker, type SharedTensor, type TransportTensor, type WireTensor, type WorkerToServer } from "../../workers/protocol.ts";
import type { OutputArenaFile, SharedMemory } from "./shared-memory.ts";
import { WORKER_ALLOCATOR_DEFAULTS, workerEnvironment } from "./worker-environment.ts";
import { workerTempDirectory } from "../runtime/worker-temp.ts";

export { type GenerationHandle, type InferResult, type LoadedSignature, type SpawnWorker, type WorkerExit, type WorkerHandle, WorkerGoneError } from "./worker-handle.ts";
import { type GenerationHandle, type InferResult, type LoadedSignature, type SpawnWorker, type WorkerExit, type WorkerHandle, WorkerGoneError } from "./worker-handle.ts";

/**
 * Spawns real worker processes with an IPC channel: `bun workers/main.ts` from source, the binary
 * itself in worker mode when compiled (src/runtime/worker-command.ts). With `sharedMemory`, each
 * worker gets an output arena and the model's input arena is mapped at load; without it (model
 * inspection), tensors travel inline.
 */
export function createWorkerSpawner(sharedMemory?: SharedMemory, limits: { maxOutputBytes?: number } & WorkerResourceLimits = {}): SpawnWorker {
  return (label) => new WorkerProcess(sharedMemory?.createOutputArena(), limits.maxOutputBytes, label, limits);
}

/** A spawner without shared memory, for short-lived workers that only read a model's signature. */
export const spawnWorkerProcess: SpawnWorker = createWorkerSpawner();

interface Pending {
  resolve: (value: never) => void;
  reject: (error: Error) => void;
}

class WorkerProcess implements WorkerHandle {
  readonly pid: number;
  readonly exited: Promise<WorkerExit>;
  private readonly process: Subprocess;
  private readonly pending = new Map<number, Pending>();
  private readonly sequences = new Map<number, { onStep: (step: SequenceStep) => void } & Pending>();
  private nextSequenceId = 1;
  private nextRequestId = 1;
  private pendingLoad: Pending | undefined;
  private readonly readyForLoad: Promise<void>;
  private signalReady!: () => void;
  private exitInfo: WorkerExit | undefined;
  private channelOpen = true;
  /** The start of the output arena as mapped in this process (outputBlockView). */
  private keptOutputMapping: Uint8Array | undefined;
  /** When /proc last showed this process running (performance.now() milliseconds). */
  private seenRunningAtMilliseconds = Number.NEGATIVE_INFINITY;
  /** `terminate` was called: pending requests fail as "stopped", not as a crash. */
  private stopRequested = false;
  /** Output blocks read by the server, to be handed back with the next message. */
  private releasedBlocks: number[] = [];
  private releaseScheduled = false;

  constructor(
    private readonly outputArena: OutputArenaFile | undefined,
    private readonly maxOutputBytes: number | undefined,
    label?: string,
    resourceLimits: WorkerResourceLimits = {},
  ) {
    this.readyForLoad = new Promise((resolve) => (this.signalReady = resolve));
    const temp = workerTempDirectory();
    this.process = Bun.spawn({
      cmd: workerCommand(label, resourceLimits),
      env: { ...WORKER_ALLOCATOR_DEFAULTS, ...workerEnvironment(process.env), ...(temp.directory !== undefined && { TMPDIR: temp.directory }) },
      stdio: ["ignore", "inherit", "inherit"],
      serialization: "advanced",
      ipc: (message: WorkerToServer | JsonPacked) => this.onMessage(unpack(message)),
      onDisconnect: () => void (this.channelOpen = false),
    });
    this.pid = this.process.pid;
    this.exited = this.process.exited.then(() => {
      temp.remove();
      const signal = this.process.signalCode;
      const exit: WorkerExit = { exitCode: this.process.exitCode, signalCode: signal === null || signal === undefined ? null : String(signal) };
      this.exitInfo = exit;
      this.outputArena?.remove();
      this.failAll(exit);
      return exit;
    });
  }

  async load(request: Omit<LoadMessage, "type">): Promise<LoadedSignature> {
    await Promise.race([this.readyForLoad, this.exited]);
    if (this.exitInfo) throw exitError(this.exitInfo, "MODEL_LOAD_FAILED", this.stopRequested);
    return new Promise<LoadedSignature>((resolve, reject) => {
      this.pendingLoad = { resolve: resolve as (value: never) => void, reject };
      const outputArena = this.outputArena && { path: this.outputArena.path, byteLength: this.outputArena.byteLength };
      const { maxOutputBytes } = this;
      this.send({ type: "load", ...request, ...(outputArena && { outputArena }), ...(maxOutputBytes !== undefined && { maxOutputBytes }) });
    });
  }

  infer(items: TransportTensor[][], outputNames?: string[]): Promise<InferResult> {
    if (!this.channelOpen || this.exitInfo || !this.stillRunning()) return Promise.reject(new WorkerGoneError(this.pid));
    const requestId = this.nextRequestId++;
    const release = this.takeReleasedBlocks();
    return new Promise<InferResult>((resolve, reject) => {
      this.pending.set(requestId, { resolve: resolve as (value: never) => void, reject });
      try {
        this.send({ type: "infer", requestId, items, outputNames, ...(release && { release }) });
      } catch {
        this.pending.delete(requestId);
        reject(new WorkerGoneError(this.pid));
      }
    });
  }

  /** isRunning, looked up at most once per RUNNING_RECHECK_MILLISECONDS while the answer is yes. */
  private stillRunning(): boolean {
    const now = performance.now();
    if (now - this.seenRunningAtMilliseconds < RUNNING_RECHECK_MILLISECONDS) return true;
    if (!isRunning(this.pid)) return false;
    this.seenRunningAtMilliseconds = now;
    return true;
  }

  generate(settings: GenerateSettings, onStep: (step: SequenceStep) => void): GenerationHandle {
    const sequenceId = this.nextSequenceId++;
    // Thrown, not rejected: the sequence never reached this worker, so the pool may send it to another.
    if (!this.channelOpen || this.exitInfo || !this.stillRunning()) throw new WorkerGoneError(this.pid);
    const finished = new Promise<SequenceStep>((resolve, reject) => {
      this.sequences.set(sequenceId, { onStep, resolve: resolve as (value: never) => void, reject });
      try {
        this.send({ type: "generate", sequenceId, settings });
      } catch {
        this.sequences.delete(sequenceId);
        reject(new WorkerGoneError(this.pid));
      }
    });
    const cancel = () => {
      if (!this.sequences.has(sequenceId) || !this.channelOpen || this.exitInfo) return;
      try {
        this.send({ type: "generate-cancel", sequenceId });
      } catch {
        // the worker is gone; the sequence fails with it
      }
    };
    return { finished, cancel };
  }

  async terminate(graceMilliseconds = 2000): Promise<WorkerExit> {
    if (!this.exitInfo) {
      this.stopRequested = true;
      this.process.kill("SIGTERM");
      const timer = setTimeout(() => this.process.kill("SIGKILL"), graceMilliseconds);
      await this.exited;
      clearTimeout(timer);
    }
    return this.exited;
  }

  /** Every message to the worker goes through here, packed for the channel (workers/channel.ts). */
  private send(message: ServerToWorker): void {
    this.process.send(pack(message));
  }

  private onMessage(message: WorkerToServer): void {
    // An answer is proof of life: under load, answers keep /proc from being read at all. (Not
    // `loaded`: the first batch after a load always looks, so a worker that died idle since is seen.)
    if (message.type === "inferred" || message.type === "generated") this.seenRunningAtMilliseconds = performance.now();
    switch (message.type) {
      case "ready-for-load":
        this.signalReady();
        return;
      case "loaded": {
        const { type: _type, ...signature } = message;
        this.settleLoad((pending) => pending.resolve(signature as never));
        return;
      }
      case "load-failed":
        this.settleLoad((pending) => pending.reject(new ModelMoraError("MODEL_LOAD_FAILED", `model failed to load: ${message.message}`)));
        return;
      case "inferred":
        this.settle(message.requestId, (pending) => pending.resolve(this.inferResult(message) as never));
        return;
      case "infer-failed":
        this.settle(message.requestId, (pending) => pending.reject(new ModelMoraError(message.code, `inference failed: ${message.message}`)));
        return;
      case "generated":
        for (const step of message.steps) {
          const sequence = this.sequences.get(step.sequenceId);
          if (!sequence) continue;
          sequence.onStep(step);
          if (step.finishReason) {
            this.sequences.delete(step.sequenceId);
            sequence.resolve(step as never);
          }
        }
        return;
      case "generate-failed": {
        const sequence = this.sequences.get(message.sequenceId);
        this.sequences.delete(message.sequenceId);
        sequence?.reject(
          message.code === "INVALID_INPUT"
            ? new ModelMoraError("INVALID_INPUT", message.message)
            : new ModelMoraError("INFERENCE_FAILED", `generation failed: ${message.message}`),
        );
        return;
      }
    }
  }

  /** Outputs as views into the output arena, with a release that counts the batch's items down. */
  private inferResult({ itemOutputs, outputBlock, computeStartedAtMilliseconds, computeMicroseconds }: Extract<WorkerToServer, { type: "inferred" }>): InferResult {
    const arena = this.outputArena;
    if (outputBlock === undefined || !arena) return { itemOutputs: itemOutputs as WireTensor[][], computeStartedAtMilliseconds, computeMicroseconds };
    // One mapping of the block, just as long as its outputs reach.
    let blockEnd = outputBlock;
    for (const outputs of itemOutputs) for (const tensor of outputs) if (isShared(tensor)) blockEnd = Math.max(blockEnd, tensor.slice.offset + tensor.slice.byteLength);
    const block = this.outputBlockView(arena, outputBlock, blockEnd - outputBlock);
    const views = itemOutputs.map((outputs) => outputs.map((tensor) => (isShared(tensor) ? viewOf(tensor, block, outputBlock) : tensor)));
    const released = new Uint8Array(views.length);
    let outstanding = views.length;
    return {
      itemOutputs: views,
      computeStartedAtMilliseconds,
      computeMicroseconds,
      release: (index) => {
        if (released[index]) return;
        released[index] = 1;
        if (--outstanding === 0) this.releaseBlock(outputBlock);
      },
    };
  }

  /**
   * Output-arena bytes `[offset, offset + byteLength)`. Blocks within the first
   * KEPT_OUTPUT_MAPPING_BYTES are views of one mapping of the arena's start that this handle keeps
   * (grown when a block ends beyond it), so pages the server has read once stay mapped: the worker
   * allocates first fit, so its answers land on the same pages again. Mapping each block afresh
   * faulted every page in at each answer (~7 µs a page: 113 ms for a 64 MiB output before its first
   * chunk could be sent, against 3 ms once mapped). Blocks beyond it get a mapping of their own.
   */
  private outputBlockView(arena: OutputArenaFile, offset: number, byteLength: number): Uint8Array {
    const end = offset + byteLength;
    const keptBytes = Math.min(KEPT_OUTPUT_MAPPING_BYTES, arena.byteLength);
    if (end > keptBytes) return mapArenaBlock(arena.path, offset, byteLength);
    if (!this.keptOutputMapping || this.keptOutputMapping.byteLength < end) {
      this.keptOutputMapping = mapArenaBlock(arena.path, 0, Math.min(keptBytes, Math.ceil(end / KEPT_MAPPING_GROWTH_BYTES) * KEPT_MAPPING_GROWTH_BYTES));
    }
    return this.keptOutputMapping.subarray(offset, end);
  }

  /**
   * Queues a block for the worker. It rides on the next `infer` (the worker frees it before placing
   * that batch's outputs, so first fit still lands on the same pages); only a worker that gets no
   * batch for RELEASE_ALONE_AFTER_MILLISECONDS is sent its blocks in a message of their own. Sending
   * each release alone, right away, cost a third IPC message per request at low concurrency.
   */
  private releaseBlock(offset: number): void {
    if (this.exitInfo) return;
    this.releasedBlocks.push(offset);
    if (this.releaseScheduled) return;
    this.releaseScheduled = true;
    setTimeout(() => {
      this.releaseScheduled = false;
      const offsets = this.takeReleasedBlocks();
      if (!offsets || !this.channelOpen || this.exitInfo) return;
      try {
        this.send({ type: "release", offsets });
      } catch {
        // the worker is gone; its arena goes with it
      }
    }, RELEASE_ALONE_AFTER_MILLISECONDS).unref();
  }

  private takeReleasedBlocks(): number[] | undefined {
    if (this.releasedBlocks.length === 0) return undefined;
    const offsets = this.releasedBlocks;
    this.releasedBlocks = [];
    return offsets;
  }

  private settleLoad(action: (pending: Pending) => void): void {
    const pending = this.pendingLoad;
    this.pendingLoad = undefined;
    if (pending) action(pending);
  }

  private settle(requestId: number, action: (pending: Pending) => void): void {
    const pending = this.pending.get(requestId);
    if (!pending) return;
    this.pending.delete(requestId);
    action(pending);
  }

  private failAll(exit: WorkerExit): void {
    this.settleLoad((pending) => pending.reject(exitError(exit, "MODEL_LOAD_FAILED", this.stopRequested)));
    for (const pending of [...this.pending.values(), ...this.sequences.values()]) pending.reject(exitError(exit, "INFERENCE_FAILED", this.stopRequested));
    this.pending.clear();
    this.sequences.clear();
  }
}

/**
 * How much of a worker's output arena the server keeps mapped (from its start). JSC counts a
 * mapping's whole size against its collector's budget, so this stays well below a whole arena
 * (MODELMORA_SHM_MB, 256 by default); it covers a 64 MiB answer.
 */
const KEPT_OUTPUT_MAPPING_BYTES = 64 * 1024 * 1024;
/** How long released output blocks wait for an `infer` to carry them before they go alone. */
const RELEASE_ALONE_AFTER_MILLISECONDS = 20;
/** The kept mapping grows in steps of this size. */
const KEPT_MAPPING_GROWTH_BYTES = 1024 * 1024;

/**
 * Between two looks at /proc for the same worker (an answer from it counts as a look). A batch sent
 * in this window after the worker's death fails like the batches it was running (INFERENCE_FAILED);
 * looking before every send cost about 7 % of the server's CPU with a tiny model at c=32.
 */
const RUNNING_RECHECK_MILLISECONDS = 10;

/**
 * Whether the process still runs (not exited, not a zombie awaiting reaping). Reading
 * /proc/<pid>/stat costs microseconds and closes most of the window between a worker's death and
 * the server noticing it; elsewhere than Linux it answers true and the IPC disconnect flag serves.
 */
function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ENOENT";
  }
  const state = stat.charAt(stat.lastIndexOf(")") + 2);
  return state !== "Z" && state !== "X";
}

/** A shared output as a typed array over `block`, the mapping of the arena from `blockOffset` on. */
function viewOf({ name, datatype, shape, slice }: SharedTensor, block: Uint8Array, blockOffset: number): WireTensor {
  const elementCount = shape.reduce((product, dimension) => product * dimension, 1);
  return { name, datatype, shape, data: typedView(datatype, block, slice.offset - blockOffset, elementCount) };
}

function exitError(exit: WorkerExit, code: "MODEL_LOAD_FAILED" | "INFERENCE_FAILED", stopRequested: boolean): ModelMoraError {
  const reason = exit.signalCode ? `signal ${exit.signalCode}` : `exit code ${exit.exitCode}`;
  const what = stopRequested ? "was stopped (unloaded or shutting down)" : "exited unexpectedly";
  return new ModelMoraError(code, `worker process ${what} (${reason})`, { exitCode: exit.exitCode, signal: exit.signalCode });
}
