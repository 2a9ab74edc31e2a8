/**
 * The CLI's pure parts, in-process: argument grammar, tables, the lock document, how an install
 * decides on config changes, names derived from sources, the progress line, and `main` with a
 * fake Io for exit codes that need no server. Process-level behaviour is in
 * tests/integration/cli.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { main } from "../../src/cli.ts";
import { HELP, helpText, parseArguments, type CommandSpec } from "../../src/cli/arguments.ts";
import type { ModelSummary } from "../../src/cli/catalogue.ts";
import { absoluteSource, nameFromSource } from "../../src/cli/commands/install.ts";
import { CliError, EXIT, exitCodeFor } from "../../src/cli/exit-codes.ts";
import { configPatch } from "../../src/cli/install-plan.ts";
import type { Io } from "../../src/cli/io.ts";
import { lockOf } from "../../src/cli/lock-file.ts";
import { formatBytes, previewValues, table } from "../../src/cli/output.ts";
import { downloadProgress, progressLine } from "../../src/cli/progress.ts";
import { DEFAULT_MODEL_CONFIG } from "../../src/registry/model-config.ts";

const SPEC: CommandSpec = {
  name: "demo",
  summary: "A demo command.",
  positionals: [
    { name: "first", description: "required" },
    { name: "second", description: "optional", optional: true },
  ],
  flags: [
    { flag: "--name", value: "NAME", description: "a value" },
    { flag: "--json", description: "a switch" },
  ],
};

function usageMessage(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.usage);
    return (error as CliError).message;
  }
  throw new Error("expected a usage error");
}

describe("argument grammar", () => {
  test("positionals, --flag value, --flag=value and switches", () => {
    const parsed = parseArguments(SPEC, ["a", "--name", "x", "b", "--json"]);
    if (parsed === HELP) throw new Error("unexpected help");
    expect(parsed.positionals).toEqual(["a", "b"]);
    expect(parsed.flags).toEqual(new Map<string, string | true>([["--name", "x"], ["--json", true]]));
    const inline = parseArguments(SPEC, ["--name=a=b", "a"]);
    expect(inline !== HELP && inline.flags.get("--name")).toBe("a=b");
  });

  test("after -- everything is positional; a lone - is a positional (stdin)", () => {
    const parsed = parseArguments(SPEC, ["--", "--json", "-"]);
    expect(parsed !== HELP && parsed.positionals).toEqual(["--json", "-"]);
  });

  test("--help or -h anywhere asks for help", () => {
    expect(parseArguments(SPEC, ["a", "--help"])).toBe(HELP);
    expect(parseArguments(SPEC, ["-h"])).toBe(HELP);
  });

  test("usage errors name what is wrong", () => {
    expect(usageMessage(() => parseArguments(SPEC, []))).toBe("missing argument <first>");
    expect(usageMessage(() => parseArguments(SPEC, ["a", "b", "c"]))).toBe('unexpected argument "c"');
    expect(usageMessage(() => parseArguments(SPEC, ["a", "--nope"]))).toBe("unknown flag --nope");
    expect(usageMessage(() => parseArguments(SPEC, ["a", "--name"]))).toContain("--name needs a value");
    expect(usageMessage(() => parseArguments(SPEC, ["a", "--name", "--json"]))).toContain("--name needs a value");
    expect(usageMessage(() => parseArguments(SPEC, ["a", "--name="]))).toContain("--name needs a value");
    expect(usageMessage(() => parseArguments(SPEC, ["a", "--json=yes"]))).toBe("flag --json takes no value");
  });

  test("help text lists the arguments and flags", () => {
    const text = helpText(SPEC);
    expect(text).toStartWith("usage: modelmora demo <first> [<second>] [flags]\n");
    expect(text).toContain("  --name NAME");
    expect(text).toContain("  --help, -h");
  });
});

describe("exit codes", () => {
  test("unknown models and versions are 3; every other domain error is 1", () => {
    expect(exitCodeFor("MODEL_NOT_FOUND")).toBe(3);
    expect(exitCodeFor("VERSION_NOT_FOUND")).toBe(3);
    for (const code of ["CHECKSUM_MISMATCH", "SOURCE_UNAVAILABLE", "INVALID_INPUT", "MODEL_LOAD_FAILED", undefined]) expect(exitCodeFor(code)).toBe(1);
  });

  test("main: no command is 2 with the usage on stderr; --help is 0 on stdout; an unknown command is 2", async () => {
    const io = fakeIo();
    expect(await main([], io)).toBe(2);
    expect(io.err.join("")).toContain("usage: modelmora <command>");
    expect(await main(["--help"], io)).toBe(0);
    expect(io.out.join("")).toContain("exit codes: 0 ok");
    expect(await main(["nope"], io)).toBe(2);
  });

  test("main: with --json a failure is one JSON line on stderr and nothing on stdout", async () => {
    const io = fakeIo();
    expect(await main(["list", "--json", "--server", "ftp://x"], io)).toBe(2);
    expect(io.out).toEqual([]);
    expect(JSON.parse(io.err.join(""))).toMatchObject({ code: "USAGE", exitCode: 2 });
  });
});

function fakeIo(): Io & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (text) => void out.push(text), stderr: (text) => void err.push(text), stderrIsTty: false, env: {}, cwd: "/nonexistent/modelmora-cli-test" };
}

describe("output", () => {
  test("tables pad every column but the last to its widest cell; empty cells show as -", () => {
    expect(table(["NAME", "SIZE", "SOURCE"], [["a", "1 B", "/x"], ["longer", null, ""]])).toBe("NAME    SIZE  SOURCE\na       1 B   /x\nlonger  -     -\n");
  });

  test("sizes use binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(300 * 1024 * 1024)).toBe("300 MiB");
    expect(formatBytes(null)).toBe("-");
  });

  test("tensor previews flatten, round to 6 significant digits and count what they cut", () => {
    expect(previewValues([[1, 2], [3, 0.1 + 0.2]])).toBe("[1, 2, 3, 0.3]");
    expect(previewValues(Array.from({ length: 10 }, (_, index) => index), 3)).toBe("[0, 1, 2, … (10 values)]");
  });

  test("downloads draw a redrawn bar on a terminal, and only a summary line elsewhere", () => {
    const event = { source: "hf://o/r/m.onnx", location: "http://hub/o/r/resolve/main/m.onnx", remote: true, totalBytes: 100 };
    const terminal = { ...fakeIo(), stderrIsTty: true };
    const onTerminal = downloadProgress(terminal);
    onTerminal({ ...event, receivedBytes: 10, done: false });
    onTerminal({ ...event, receivedBytes: 100, done: true });
    expect(terminal.err).toHaveLength(2);
    expect(terminal.err[0]).toStartWith("\r\u001b[2Km.onnx [##");
    expect(terminal.err[1]).toContain("100%");
    expect(terminal.err[1]).toEndWith("\n");

    const pipe = fakeIo();
    const onPipe = downloadProgress(pipe);
    onPipe({ ...event, receivedBytes: 10, done: false });
    onPipe({ ...event, receivedBytes: 100, done: true });
    expect(pipe.err).toHaveLength(1);
    expect(pipe.err[0]).toStartWith("downloaded http://hub/o/r/resolve/main/m.onnx: 100 B in ");
  });

  test("the progress line shows a bar, percentage, bytes and rate; without a total, bytes and rate", () => {
    expect(progressLine({ location: "https://hub/org/repo/resolve/main/model.onnx", receivedBytes: 512 * 1024, totalBytes: 1024 * 1024 }, 1)).toBe(
      "model.onnx [############------------]  50%  512 KiB / 1.0 MiB  512 KiB/s",
    );
    expect(progressLine({ location: "/x/model.onnx", receivedBytes: 2048, totalBytes: undefined }, 2)).toBe("model.onnx  2.0 KiB  1.0 KiB/s");
  });
});

describe("install decisions", () => {
  test("names come from the file name without .onnx, with characters a name may not hold replaced", () => {
    expect(nameFromSource("hf://org/repo@v1/onnx/model-int8.onnx")).toBe("model-int8");
    expect(nameFromSource("https://example.com/x/My Model.ONNX?download=1")).toBe("My-Model");
    expect(nameFromSource("/models/_private.onnx")).toBe("private");
  });

  test("relative paths become absolute against the working directory; URLs and absolute paths pass unchanged", () => {
    expect(absoluteSource("models/a.onnx", "/work")).toBe("/work/models/a.onnx");
    expect(absoluteSource("/abs/a.onnx", "/work")).toBe("/abs/a.onnx");
    for (const url of ["file:///a.onnx", "https://h/a.onnx", "http://h/a.onnx", "hf://o/r/a.onnx"]) expect(absoluteSource(url, "/work")).toBe(url);
    expect(usageMessage(() => absoluteSource("s3://bucket/a.onnx", "/work"))).toContain("unsupported scheme");
  });

  test("an exact config (a lock) resets keys it does not name; a merge changes only the keys given", () => {
    const current = { ...DEFAULT_MODEL_CONFIG, maxBatchSize: 8, replicas: 2 };
    expect(configPatch(current, { maxBatchSize: 8 }, "exact")).toEqual({ replicas: 1 });
    expect(configPatch(current, { maxBatchSize: 8 }, "merge")).toEqual({});
    expect(configPatch(current, { preload: true }, "merge")).toEqual({ preload: true });
    expect(configPatch(current, { ...current }, "exact")).toEqual({});
    expect(configPatch({ ...DEFAULT_MODEL_CONFIG, memoryMb: 100 }, {}, "exact")).toEqual({ memoryMb: null });
  });
});

describe("lock document", () => {
  test("one entry per model at its active version, names and config keys in code-unit order", () => {
    const model = (name: string, active: string): ModelSummary => ({
      name,
      task: "tensor",
      activeVersion: active,
      versions: ["1", "2"].map((version) => ({ version, sha256: version.repeat(64), sizeBytes: Number(version), source: `/m/${name}-${version}.onnx`, files: {}, createdAt: "t" })),
      config: { ...DEFAULT_MODEL_CONFIG, maxBatchSize: 4 },
      inputs: [],
      outputs: [],
      createdAt: "t",
      updatedAt: "t",
    });
    const lock = lockOf([model("b", "1"), model("B", "2"), model("a-b", "2"), model("ab", "1")], new Date("2025-01-02T03:04:05Z"));
    expect(lock.generatedAt).toBe("2025-01-02T03:04:05.000Z");
    expect(Object.keys(lock.models)).toEqual(["B", "a-b", "ab", "b"]);
    expect(lock.models.B).toEqual({ version: "2", task: "tensor", source: "/m/B-2.onnx", sha256: "2".repeat(64), sizeBytes: 2, config: expect.any(Object) });
    expect(Object.keys(lock.models.B!.config)).toEqual(Object.keys(lock.models.B!.config).sort());
    expect(lock.models.B!.config.maxBatchSize).toBe(4);
  });
});
