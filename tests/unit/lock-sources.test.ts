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
