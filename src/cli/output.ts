/**
 * Human-readable output: aligned tables, sizes, short checksums. Scripts use `--json` instead,
 * whose shapes are the REST API's (or documented per command), never these tables.
 */

export type Cell = string | number | null | undefined;

/**
 * Columns padded to their widest cell, separated by two spaces; the last column is not padded.
 *
 * @example
 * table(["NAME", "SIZE"], [["add", "1.2 kB"]])
 * // "NAME  SIZE\nadd   1.2 kB\n"
 */
export function table(headers: string[], rows: Cell[][]): string {
  const text = [headers, ...rows.map((row) => row.map(cellText))];
  const widths = headers.map((_, column) => Math.max(...text.map((row) => (row[column] ?? "").length)));
  return text.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  ").trimEnd()).join("\n") + "\n";
}

/** `key  value` lines with the keys aligned. */
export function keyValues(pairs: [string, Cell][]): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${key.padEnd(width)}  ${cellText(value)}`).join("\n") + "\n";
}

function cellText(cell: Cell): string {
  if (cell === null || cell === undefined || cell === "") return "-";
  return String(cell);
}

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** The first 12 hex digits, enough to tell files apart at a glance. */
export function shortSha(sha256: string): string {
  return sha256.slice(0, 12);
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** `[1,3]` → "1x3"; -1 (dynamic) shows as "?". */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 0 ? "scalar" : shape.map((dimension) => (dimension < 0 ? "?" : String(dimension))).join("x");
}

/** The first `limit` elements of a (possibly nested) array, with an ellipsis and the count when cut. */
export function previewValues(data: unknown, limit = 8): string {
  const flat = Array.isArray(data) ? (data.flat(Number.POSITIVE_INFINITY) as unknown[]) : [data];
  const shown = flat.slice(0, limit).map((value) => (typeof value === "number" && !Number.isInteger(value) ? Number(value.toPrecision(6)) : value));
  return `[${shown.map((value) => (typeof value === "string" ? JSON.stringify(value) : String(value))).join(", ")}${flat.length > limit ? `, … (${flat.length} values)` : ""}]`;
}
