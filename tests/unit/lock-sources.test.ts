/** `modelmora lock` warns about sources that only exist on this machine. */
import { expect, test } from "bun:test";
import { localSources } from "../../src/cli/commands/lock.ts";

test("absolute paths and file:// sources are local; http(s):// and hf:// are portable", () => {
  expect(
    localSources({
      a: { source: "/srv/models/a.onnx" },
      b: { source: "file:///srv/models/b.onnx" },
      c: { source: "https://example.com/c.onnx" },
      d: { source: "hf://org/repo/d.onnx" },
      e: { source: "C:\\models\\e.onnx" },
    }),
  ).toEqual(["a: /srv/models/a.onnx", "b: file:///srv/models/b.onnx", "e: C:\\models\\e.onnx"]);
});

test("companion files with local sources are named with their model", () => {
  expect(
    localSources({
      enc: { source: "hf://org/repo/model.onnx", files: { "tokenizer.json": { source: "/srv/tok.json" }, "config.json": { source: "hf://org/repo/config.json" } } },
    }),
  ).toEqual(["enc tokenizer.json: /srv/tok.json"]);
});
