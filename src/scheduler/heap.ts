/**
 * A binary min-heap over numeric keys, with values carried alongside. Ours by design (DESIGN §1):
 * the scheduler keys each request by `priority * 2^40 + arrival sequence`, so one number compare
 * orders by priority first and FIFO within a level, and keys stay below 2^53 (exact doubles).
 *
 * Keys and values live in two parallel arrays so the hot loop compares plain doubles.
 *
 * @example
 * const heap = new BinaryHeap<string>();
 * heap.push(schedulingKey(2, 0), "high, first");
 * heap.push(schedulingKey(1, 1), "critical");
 * heap.pop(); // "critical"
 */
export class BinaryHeap<T> {
  private readonly keys: number[] = [];
  private readonly values: T[] = [];

  get size(): number {
    return this.keys.length;
  }

  push(key: number, value: T): void {
    const keys = this.keys;
    const values = this.values;
    let index = keys.length;
    keys.push(key);
    values.push(value);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentKey = keys[parent]!;
      if (parentKey <= key) break;
      keys[index] = parentKey;
      values[index] = values[parent]!;
      index = parent;
    }
    keys[index] = key;
    values[index] = value;
  }

  /** The value with the smallest key, or undefined when empty. */
  peek(): T | undefined {
    return this.values[0];
  }

  peekKey(): number | undefined {
    return this.keys[0];
  }

  pop(): T | undefined {
    const keys = this.keys;
    const values = this.values;
    const count = keys.length;
    if (count === 0) return undefined;
    const top = values[0];
    const lastKey = keys.pop()!;
    const lastValue = values.pop()!;
    if (count > 1) this.siftDown(lastKey, lastValue);
    return top;
  }

  /** Removes and returns every value for which `predicate` holds; O(n), for rare sweeps only. */
  removeWhere(predicate: (value: T) => boolean): T[] {
    const removed: T[] = [];
    const keptKeys: number[] = [];
    const keptValues: T[] = [];
    for (let index = 0; index < this.keys.length; index++) {
      const value = this.values[index]!;
      if (predicate(value)) removed.push(value);
      else {
        keptKeys.push(this.keys[index]!);
        keptValues.push(value);
      }
    }
    if (removed.length === 0) return removed;
    this.keys.length = 0;
    this.values.length = 0;
    for (let index = 0; index < keptKeys.length; index++) this.push(keptKeys[index]!, keptValues[index]!);
    return removed;
  }

  private siftDown(key: number, value: T): void {
    const keys = this.keys;
    const values = this.values;
    const count = keys.length;
    const half = count >> 1;
    let index = 0;
    while (index < half) {
      let child = 2 * index + 1;
      let childKey = keys[child]!;
      const right = child + 1;
      if (right < count && keys[right]! < childKey) {
        child = right;
        childKey = keys[right]!;
      }
      if (key <= childKey) break;
      keys[index] = childKey;
      values[index] = values[child]!;
      index = child;
    }
    keys[index] = key;
    values[index] = value;
  }
}

const SEQUENCE_SPACE = 2 ** 40;

/** Orders by priority (1 = highest) first, then arrival. `sequence` must be below 2^40. */
export function schedulingKey(priority: number, sequence: number): number {
  return priority * SEQUENCE_SPACE + sequence;
}
