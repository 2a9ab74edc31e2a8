/**
 * Shared-memory arenas: one file mapped with MAP_SHARED (`Bun.mmap(path, { shared: true })`) into
 * the server and a worker, so tensor bytes cross the process boundary without a copy or a message;
 * IPC carries only slices (offset, byte length). Used by both sides: the server allocates request
 * tensors in a model's input arena, a worker allocates its outputs in its own output arena. Each
 * arena has exactly one allocating process; the other side only reads and writes inside slices it
 * was handed, and hands them back by message.
 */
import { closeSync, ftruncateSync, openSync } from "node:fs";

/** Where a tensor's bytes lie within an arena. */
export interface ArenaSlice {
  offset: number;
  byteLength: number;
}

/** Every allocation starts on this boundary, so any typed array (up to 8-byte elements) can view it. */
export const ARENA_ALIGNMENT_BYTES = 8;

/** Creates (or resizes) the file at `path` to `byteLength` bytes, sparse: no page is written yet. */
export function createArenaFile(path: string, byteLength: number): void {
  const descriptor = openSync(path, "w+", 0o600);
  try {
    ftruncateSync(descriptor, byteLength);
  } finally {
    closeSync(descriptor);
  }
}

/** Maps a whole arena file shared (the worker, whose heap is small, maps its arenas once). */
export function mapArenaFile(path: string): Uint8Array {
  return Bun.mmap(path, { shared: true });
}

const PAGE_BYTES = 4096;

/**
 * Maps just `[offset, offset + byteLength)` of an arena file, shared: a view exactly that long. The
 * server maps each block it writes or reads this way (about 15 µs) rather than whole arenas: JSC
 * counts a mapping's full size against its garbage-collection budget, and whole arenas of a few
 * hundred MB made every collection in the server several times dearer (measured: cls c=32 over REST
 * JSON, 283 req/s with 256 MB arenas mapped, 499 with 16 MB). The mapping is released when the view
 * is collected.
 */
export function mapArenaBlock(path: string, offset: number, byteLength: number): Uint8Array {
  const pageStart = Math.floor(offset / PAGE_BYTES) * PAGE_BYTES;
  const lead = offset - pageStart;
  const mapping = Bun.mmap(path, { shared: true, offset: pageStart, size: lead + Math.max(byteLength, 1) } as Parameters<typeof Bun.mmap>[1]);
  return mapping.subarray(lead, lead + byteLength);
}

/**
 * Gives the file's pages back to the system (tmpfs keeps written pages until the file shrinks) while
 * keeping its size and every mapping valid. Only call when no slice of the arena is in use: the
 * contents become zeros.
 */
export function releaseArenaPages(path: string, byteLength: number): void {
  const descriptor = openSync(path, "r+");
  try {
    ftruncateSync(descriptor, 0);
    ftruncateSync(descriptor, byteLength);
  } finally {
    closeSync(descriptor);
  }
}

/**
 * Next-fit allocator over `[0, byteLength)`: each allocation starts where the previous one ended
 * when that space is free, so requests allocated one after another sit back to back (a batch of
 * them is one contiguous run the worker can view without concatenating), and space freed out of
 * order is reused once the cursor wraps. Free blocks are kept sorted and coalesced.
 *
 * @example
 * const allocator = new ArenaAllocator(1 << 20);
 * const offset = allocator.allocate(110_592); // 0
 * allocator.free(offset);
 *
 * With `firstFit`, every search starts at offset 0 instead: the lowest free space is reused, so the
 * bytes in use stay packed at the start of the arena (a caller that maps the arena piece by piece
 * maps only that much). Requests freed in order still sit back to back.
 */
export class ArenaAllocator {
  /** Free blocks, sorted by offset, never adjacent (coalesced). */
  private readonly freeOffsets: number[] = [0];
  private readonly freeLengths: number[];
  private readonly allocated = new Map<number, number>();
  private cursor = 0;
  private used = 0;

  constructor(
    readonly byteLength: number,
    private readonly options: { firstFit?: boolean } = {},
  ) {
    this.freeLengths = [byteLength];
  }

  get usedBytes(): number {
    return this.used;
  }

  get allocationCount(): number {
    return this.allocated.size;
  }

  /** The offset of `byteLength` free bytes (rounded up to the alignment), or undefined when none fit. */
  allocate(byteLength: number): number | undefined {
    const size = alignUp(Math.max(byteLength, 1));
    const count = this.freeOffsets.length;
    if (count === 0) return undefined;
    // Start at the free block holding (or following) the cursor, then wrap.
    let start = 0;
    while (start < count && this.freeOffsets[start]! + this.freeLengths[start]! <= this.cursor) start++;
    for (let step = 0; step < count; step++) {
      const index = (start + step) % count;
      const blockOffset = this.freeOffsets[index]!;
      const blockLength = this.freeLengths[index]!;
      // Within the cursor's own block, prefer the cursor; elsewhere the block's start.
      const offset = step === 0 && this.cursor > blockOffset && this.cursor < blockOffset + blockLength ? this.cursor : blockOffset;
      if (blockOffset + blockLength - offset < size) {
        if (offset !== blockOffset && blockLength >= size) return this.take(index, blockOffset, size);
        continue;
      }
      return this.take(index, offset, size);
    }
    return undefined;
  }

  /** Frees an allocation made by `allocate`; throws on an offset that is not allocated (a bug). */
  free(offset: number): void {
    const size = this.allocated.get(offset);
    if (size === undefined) throw new Error(`arena: free of offset ${offset}, which is not allocated (this is a bug)`);
    this.allocated.delete(offset);
    this.used -= size;
    let index = 0;
    while (index < this.freeOffsets.length && this.freeOffsets[index]! < offset) index++;
    this.freeOffsets.splice(index, 0, offset);
    this.freeLengths.splice(index, 0, size);
    // Coalesce with the next block, then the previous one.
    if (index + 1 < this.freeOffsets.length && offset + size === this.freeOffsets[index + 1]) {
      this.freeLengths[index]! += this.freeLengths[index + 1]!;
      this.freeOffsets.splice(index + 1, 1);
      this.freeLengths.splice(index + 1, 1);
    }
    if (index > 0 && this.freeOffsets[index - 1]! + this.freeLengths[index - 1]! === offset) {
      this.freeLengths[index - 1]! += this.freeLengths[index]!;
      this.freeOffsets.splice(index, 1);
      this.freeLengths.splice(index, 1);
    }
  }

  /** Carves `[offset, offset + size)` out of free block `index`. */
  private take(index: number, offset: number, size: number): number {
    const blockOffset = this.freeOffsets[index]!;
    const blockEnd = blockOffset + this.freeLengths[index]!;
    const before = offset - blockOffset;
    const after = blockEnd - (offset + size);
    if (before > 0 && after > 0) {
      this.freeLengths[index] = before;
      this.freeOffsets.splice(index + 1, 0, offset + size);
      this.freeLengths.splice(index + 1, 0, after);
    } else if (before > 0) {
      this.freeLengths[index] = before;
    } else if (after > 0) {
      this.freeOffsets[index] = offset + size;
      this.freeLengths[index] = after;
    } else {
      this.freeOffsets.splice(index, 1);
      this.freeLengths.splice(index, 1);
    }
    this.allocated.set(offset, size);
    this.used += size;
    this.cursor = this.options.firstFit || offset + size >= this.byteLength ? 0 : offset + size;
    return offset;
  }
}

export function alignUp(byteLength: number): number {
  return Math.ceil(byteLength / ARENA_ALIGNMENT_BYTES) * ARENA_ALIGNMENT_BYTES;
}
