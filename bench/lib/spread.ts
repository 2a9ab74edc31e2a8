/** Median and min–max over repeated runs of one figure: what every multi-run table reports. */
import { significant } from "./report.ts";

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** "12.3 (11.9–13.1)"; a single run prints its value alone. */
export function formatSpread({ median: middle, min, max }: Spread): string {
  return min === max ? significant(middle) : `${significant(middle)} (${significant(min)}–${significant(max)})`;
}

/** `--runs N` (env BENCH_RUNS), a whole number ≥ 1; default 3. */
export function parseRuns(argv: readonly string[], environment = process.env, fallback = 3): number {
  const index = argv.indexOf("--runs");
  const raw = index >= 0 ? argv[index + 1] : environment.BENCH_RUNS;
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--runs must be a whole number ≥ 1, got "${raw}"`);
  return value;
}
