/**
 * Pins the shared-memory allocator: consecutive allocations sit back to back (so a batch of
 * consecutive requests is one contiguous run), freed space is reused and coalesced, a full arena
 * answers undefined, and under a long random sequence no two live blocks ever overlap.
 */
import { describe, expect, test } from "bun:test";
import { ARENA_ALIGNMENT_BYTES, ArenaAllocator } from "../../workers/arena.ts";

describe("ArenaAllocator", () => {
  test("consecutive allocations are adjacent, aligned, and counted", () => {
    const allocator = new ArenaAllocator(1024);
    const first = allocator.allocate(100)!;
    const second = allocator.allocate(100)!;
    expect(first).toBe(0);
    expect(second).toBe(104); // 100 rounded up to the 8-byte alignment
    expect(second % ARENA_ALIGNMENT_BYTES).toBe(0);
    expect(allocator.usedBytes).toBe(208);
    expect(allocator.allocationCount).toBe(2);
  });

  test("a full arena answers undefined, and space freed out of order is reused once the cursor wraps", () => {
    const allocator = new ArenaAllocator(64);
    const blocks = [allocator.allocate(16)!, allocator.allocate(16)!, allocator.allocate(16)!, allocator.allocate(16)!];
    expect(blocks).toEqual([0, 16, 32, 48]);
    expect(allocator.allocate(8)).toBeUndefined();
    allocator.free(16);
    expect(allocator.allocate(24)).toBeUndefined(); // 16 free bytes are not 24
    expect(allocator.allocate(16)).toBe(16);
  });

  test("neighbouring free blocks coalesce into one that fits a larger allocation", () => {
    const allocator = new ArenaAllocator(48);
    const [a, b, c] = [allocator.allocate(16)!, allocator.allocate(16)!, allocator.allocate(16)!];
    allocator.free(a);
    allocator.free(c);
    allocator.free(b);
    expect(allocator.usedBytes).toBe(0);
    expect(allocator.allocate(48)).toBe(0);
  });

  test("freeing an offset that is not allocated is reported as a bug", () => {
    const allocator = new ArenaAllocator(64);
    expect(() => allocator.free(8)).toThrow(/this is a bug/);
  });

  test("10,000 random allocations and frees never hand out overlapping blocks", () => {
    const allocator = new ArenaAllocator(1 << 16);
    const live = new Map<number, number>();
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let step = 0; step < 10_000; step++) {
      if (live.size > 0 && random() < 0.45) {
        const offsets = [...live.keys()];
        const offset = offsets[Math.floor(random() * offsets.length)]!;
        allocator.free(offset);
        live.delete(offset);
        continue;
      }
      const size = 1 + Math.floor(random() * 4096);
      const offset = allocator.allocate(size);
      if (offset === undefined) continue;
      expect(offset % ARENA_ALIGNMENT_BYTES).toBe(0);
      expect(offset + size).toBeLessThanOrEqual(1 << 16);
      for (const [other, otherSize] of live) expect(offset + size <= other || other + otherSize <= offset).toBe(true);
      live.set(offset, size);
    }
    for (const offset of live.keys()) allocator.free(offset);
    expect(allocator.usedBytes).toBe(0);
    expect(allocator.allocate(1 << 16)).toBe(0);
  });
});
