/** Log format choice (MODELMORA_LOG_FORMAT / TTY) and the pretty formatter's line shape. */
import { describe, expect, test } from "bun:test";
import pino from "pino";
import { logFormat } from "../../src/observability/logger.ts";
import { formatPrettyLine, prettyStream } from "../../src/observability/pretty-log.ts";
import { StartupError } from "../../src/runtime/startup-error.ts";

describe("log format", () => {
  test("pretty by default on a terminal, json when piped; MODELMORA_LOG_FORMAT wins either way", () => {
    expect(logFormat({}, true)).toBe("pretty");
    expect(logFormat({}, false)).toBe("json");
    expect(logFormat({ MODELMORA_LOG_FORMAT: "json" }, true)).toBe("json");
    expect(logFormat({ MODELMORA_LOG_FORMAT: "pretty" }, false)).toBe("pretty");
  });

  test("an unknown format is a start-up error naming the variable", () => {
    expect(() => logFormat({ MODELMORA_LOG_FORMAT: "xml" }, false)).toThrow(StartupError);
    expect(() => logFormat({ MODELMORA_LOG_FORMAT: "xml" }, false)).toThrow('MODELMORA_LOG_FORMAT is "xml": use json or pretty');
  });
});

describe("pretty lines", () => {
  test("time, level and message first, then the other fields as key=value (pid and level omitted)", () => {
    const line = formatPrettyLine(
      JSON.stringify({ level: 40, time: "2026-01-02T09:21:03.120Z", pid: 7, event: "request", status: 404, path: "/v2/x", note: "two words", msg: "GET /v2/x 404" }),
      false,
    );
    expect(line).toBe('09:21:03.120 WARN  GET /v2/x 404  event=request status=404 path=/v2/x note="two words"\n');
  });

  test("pino writes through the pretty stream one formatted line per record", () => {
    const written: string[] = [];
    const logger = pino({ level: "info", base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, prettyStream({ write: (text) => written.push(text) }));
    logger.info({ event: "model_registered", model: "add" }, "model registered");
    logger.debug("hidden");
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  model registered {2}event=model_registered model=add\n$/);
  });
});
