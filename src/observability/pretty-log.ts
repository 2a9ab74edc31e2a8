/**
 * A small human-readable formatter for pino's JSON lines (for a terminal; no pino-pretty
 * dependency): `09:21:03.120 INFO  POST /api/v1/infer/add 200  request_id=… duration_ms=3.1`.
 * The time, level and message lead; every other field follows as key=value.
 *
 * @example
 * pino({}, prettyStream(process.stdout))
 */
const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
const COLOURS: Record<number, string> = { 10: "90", 20: "90", 30: "32", 40: "33", 50: "31", 60: "35" };
const OMITTED = new Set(["level", "time", "msg", "pid", "hostname"]);

export function formatPrettyLine(json: string, colour: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json);
  } catch {
    return json;
  }
  const level = typeof record.level === "number" ? record.level : 30;
  const time = typeof record.time === "string" ? record.time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  const label = LEVELS[level] ?? String(level);
  const fields = Object.entries(record)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  const head = colour ? `\x1b[${COLOURS[level] ?? "0"}m${label}\x1b[0m` : label;
  return `${time} ${head} ${String(record.msg ?? "")}${fields.length > 0 ? `  ${fields.join(" ")}` : ""}\n`;
}

/** A pino destination that writes each line formatted to `output`. */
export function prettyStream(output: { write(text: string): unknown; isTTY?: boolean }): { write(line: string): void } {
  const colour = output.isTTY === true;
  return {
    write(chunk: string) {
      for (const line of chunk.split("\n")) if (line !== "") output.write(formatPrettyLine(line, colour));
    },
  };
}
