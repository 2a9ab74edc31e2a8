/**
 * The server's shared-memory arenas (see workers/arena.ts): one input arena per model version, which
 * request tensors are decoded into before they are queued and which every replica of the model maps;
 * one output arena per worker, which that worker allocates its outputs in. All files live in one
 * directory per server, `<shmDir>/modelmora-<pid>-<n>/`, removed at close; directories left by a
 * server that was killed (its pid no longer runs) are removed when the next server starts.
 *
 * Arena files are sparse: a file costs memory only for the pages written, up to the high-water mark
 * of bytes in use at once; an input arena's pages are given back when its model unloads with
 * nothing in use (`trim`).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync, unlinkSync } from "node:fs";
import path from "node:path";
import { ModelMoraError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { ArenaAllocator, createArenaFile, mapArenaBlock, releaseArenaPages } from "../../workers/arena.ts";

export interface SharedMemoryOptions {
  /** Parent directory of the server's arena directory: /dev/shm where it exists, else under the data directory. */
  directory: string;
  /** Size of each arena (an input arena per model version, an output arena per worker). */
  arenaBytes: number;
  logger?: Logger;
}

/**
 * The server maps an input arena in pieces of this size, each when first written to, and keeps them:
 * mapping whole arenas made garbage collection dearer, and mapping each request's block on its own
 * costs a system call and a TLB shootdown per request (see mapArenaBlock). With first-fit allocation
 * the bytes in use stay packed at the start, so usually one or two pieces are mapped.
 */
const SEGMENT_BYTES = 8 * 1024 * 1024;

/** How long a request without a deadline waits for space in a full input arena before QUEUE_FULL. */
const DEFAULT_SPACE_WAIT_MILLISECONDS = 10_000;
const DIRECTORY_PREFIX = "modelmora-";
let instances = 0;

/**
 * A model version's input arena. The server is its only allocator; `allocate` resolves with an
 * offset once the space is free (waiting, in arrival order, up to the request's deadline).
 * Invariant: a block is freed only after no worker can read it any more (its request left the queue
 * unrun, or the batch holding it has answered or failed).
 */
export class InputArena {
  private readonly allocator: ArenaAllocator;
  private readonly waiters: (() => void)[] = [];
  private readonly segments = new Map<number, Uint8Array>();

  constructor(
    readonly path: string,
    readonly byteLength: number,
    private readonly label: string,
  ) {
    createArenaFile(path, byteLength);
    this.allocator = new ArenaAllocator(byteLength, { firstFit: true });
  }

  get usedBytes(): number {
    return this.allocator.usedBytes;
  }

  /** Space for `byteLength` bytes; a fast synchronous answer when it is free at once. */
  allocate(byteLength: number, deadlineAtMilliseconds?: number, signal?: AbortSignal): number | Promise<number> {
    if (byteLength > this.byteLength) {
      throw new ModelMoraError(
        "PAYLOAD_TOO_LARGE",
        `request tensors need ${byteLength} bytes, more than the shared-memory arena of ${this.byteLength} bytes (MODELMORA_SHM_MB)`,
        { neededBytes: byteLength, arenaBytes: this.byteLength },
      );
    }
    const offset = this.waiters.length === 0 ? this.allocator.allocate(byteLength) : undefined;
    return offset ?? this.waitForSpace(byteLength, deadlineAtMilliseconds ?? Date.now() + DEFAULT_SPACE_WAIT_MILLISECONDS, signal);
  }

  /** A view of one allocated block, to write a request's tensors into. */
  view(offset: number, byteLength: number): Uint8Array {
    const segment = Math.floor(offset / SEGMENT_BYTES);
    const segmentStart = segment * SEGMENT_BYTES;
    // A block across a piece boundary gets a mapping of its own.
    if (offset + byteLength > segmentStart + SEGMENT_BYTES) return mapArenaBlock(this.path, offset, byteLength);
    let mapping = this.segments.get(segment);
    if (!mapping) {
      mapping = mapArenaBlock(this.path, segmentStart, Math.min(SEGMENT_BYTES, this.byteLength - segmentStart));
      this.segments.set(segment, mapping);
    }
    return mapping.subarray(offset - segmentStart, offset - segmentStart + byteLength);
  }

  free(offset: number): void {
    this.allocator.free(offset);
    this.waiters.shift()?.();
  }

  /** Gives the arena's pages back to the system when nothing in it is in use. */
  trim(): void {
    if (this.allocator.allocationCount === 0) releaseArenaPages(this.path, this.byteLength);
  }

  private async waitForSpace(byteLength: number, deadlineAtMilliseconds: number, signal?: AbortSignal): Promise<number> {
    for (;;) {
      const remainingMilliseconds = deadlineAtMilliseconds - Date.now();
      if (remainingMilliseconds <= 0) {
        throw new ModelMoraError("QUEUE_FULL", `the shared-memory arena of ${this.label} is full (${this.usedBytes} of ${this.byteLength} bytes in use)`, {
          retryAfterSeconds: 1,
          arenaBytes: this.byteLength,
        });
      }
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(wake, remainingMilliseconds);
        const onAbort = () => {
          wake();
          reject(new ModelMoraError("CANCELLED", `request to ${this.label} was cancelled while waiting for shared memory`));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        const waiters = this.waiters;
        function wake() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          const index = waiters.indexOf(wake);
          if (index >= 0) waiters.splice(index, 1);
          resolve();
        }
        this.waiters.push(wake);
      });
      const offset = this.allocator.allocate(byteLength);
      if (offset !== undefined) {
        this.waiters[0]?.(); // space may remain for the next waiter
        return offset;
      }
    }
  }
}

/** A worker's output arena file; the worker allocates in it, the server maps each answer's block to read it. */
export interface OutputArenaFile {
  path: string;
  byteLength: number;
  /** Unlinks the file (mappings stay valid until dropped). */
  remove(): void;
}

export class SharedMemory {
  private readonly inputArenas = new Map<string, InputArena>();
  private nextFile = 1;

  private constructor(
    readonly directory: string,
    readonly arenaBytes: number,
  ) {}

  /** Creates this server's arena directory, removing those left by servers that no longer run. */
  static open(options: SharedMemoryOptions): SharedMemory {
    mkdirSync(options.directory, { recursive: true });
    removeStaleDirectories(options.directory, options.logger);
    // One directory per instance: tests run several servers in one process.
    const directory = path.join(options.directory, `${DIRECTORY_PREFIX}${process.pid}-${++instances}`);
    rmSync(directory, { recursive: true, force: true });
    mkdirSync(directory, { mode: 0o700 });
    return new SharedMemory(directory, options.arenaBytes);
  }

  /** The input arena of a model version (by its model key), created on first use. */
  inputArena(key: string, label: string): InputArena {
    let arena = this.inputArenas.get(key);
    if (!arena) {
      arena = new InputArena(this.nextPath("in"), this.arenaBytes, label);
      this.inputArenas.set(key, arena);
    }
    return arena;
  }

  /** Gives an idle model's input-arena pages back (called when the model unloads). */
  trimInputArena(key: string): void {
    this.inputArenas.get(key)?.trim();
  }

  /** Forgets a removed model version's input arena: its file is unlinked (blocks still held stay readable). */
  dropInputArena(key: string): void {
    const arena = this.inputArenas.get(key);
    if (!arena) return;
    this.inputArenas.delete(key);
    unlinkQuietly(arena.path);
  }

  createOutputArena(): OutputArenaFile {
    const filePath = this.nextPath("out");
    createArenaFile(filePath, this.arenaBytes);
    return { path: filePath, byteLength: this.arenaBytes, remove: () => unlinkQuietly(filePath) };
  }

  /** Bytes held by requests in every input arena. */
  inputBytesInUse(): number {
    let total = 0;
    for (const arena of this.inputArenas.values()) total += arena.usedBytes;
    return total;
  }

  close(): void {
    this.inputArenas.clear();
    rmSync(this.directory, { recursive: true, force: true });
  }

  private nextPath(kind: "in" | "out"): string {
    return path.join(this.directory, `${kind}-${this.nextFile++}.arena`);
  }
}

/** /dev/shm when it exists and has room for a few arenas, else `<dataDir>/shm` (a disk-backed mapping). */
export function defaultSharedMemoryDirectory(dataDir: string, arenaBytes: number): string {
  const shm = "/dev/shm";
  try {
    if (existsSync(shm)) {
      const stats = statfsSync(shm);
      if (stats.bavail * stats.bsize >= 4 * arenaBytes) return shm;
    }
  } catch {
    // not Linux, or not readable: fall through
  }
  return path.join(dataDir, "shm");
}

function removeStaleDirectories(parent: string, logger: Logger | undefined): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(DIRECTORY_PREFIX)) continue;
    const pid = Number(name.slice(DIRECTORY_PREFIX.length).split("-")[0]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    rmSync(path.join(parent, name), { recursive: true, force: true });
    logger?.info({ event: "stale_shared_memory_removed", directory: path.join(parent, name) }, "removed shared memory left by a server that no longer runs");
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function unlinkQuietly(filePath: string): void {
  try {
    unlinkSync(filePath);
  } catch {
    // already gone
  }
}
