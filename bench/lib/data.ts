/** Deterministic request data for the benches: the same bytes every run, on every server. */

/** `count` pseudo-random values in [-1, 1) with 3 decimals (short JSON), from a fixed LCG seed. */
export function pseudoRandomValues(count: number, seed = 42): number[] {
  const values = new Array<number>(count);
  let state = seed >>> 0;
  for (let index = 0; index < count; index++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[index] = Math.round((state / 2 ** 31 - 1) * 1000) / 1000;
  }
  return values;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}
