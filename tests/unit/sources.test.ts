/**
 * Pins how a model source string is read: local files, http(s) URLs, and hf:// Hub references
 * (resolve layout, HF_ENDPOINT mirrors, HF_TOKEN auth). The environment is passed in, never read.
 */
import { describe, expect, test } from "bun:test";
import { ModelMoraError } from "../../src/errors.ts";
import { parseSource } from "../../src/registry/sources.ts";

const NO_ENV = {};

function rejectionOf(source: string): ModelMoraError {
  let thrown: unknown;
  try {
    parseSource(source, NO_ENV);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ModelMoraError);
  const error = thrown as ModelMoraError;
  expect(error.code).toBe("INVALID_INPUT");
  expect(error.details).toEqual({ field: "source" });
  return error;
}

describe("local files", () => {
  test("an absolute path is a file source", () => {
    expect(parseSource("/models/add.onnx", NO_ENV)).toEqual({ kind: "file", path: "/models/add.onnx" });
  });

  test("a file:// URL is a file source with the decoded path", () => {
    expect(parseSource("file:///models/add.onnx", NO_ENV)).toEqual({ kind: "file", path: "/models/add.onnx" });
    expect(parseSource("file:///models/my%20model.onnx", NO_ENV)).toEqual({ kind: "file", path: "/models/my model.onnx" });
  });

  test.each(["models/add.onnx", "./add.onnx", "../add.onnx", "add.onnx", ""])("the relative path %p is refused", (source) => {
    const error = rejectionOf(source);
    expect(error.message).toContain("absolute path");
  });

  test("a file:// URL with a host (a relative path written as a URL) is refused as INVALID_INPUT", () => {
    expect(rejectionOf("file://models/add.onnx").message).toContain("file:///");
  });

  test("file://localhost/… is the local host's absolute path", () => {
    expect(parseSource("file://localhost/models/add.onnx", NO_ENV)).toEqual({ kind: "file", path: "/models/add.onnx" });
  });
});

describe("http(s) URLs", () => {
  test.each(["http://example.com/add.onnx", "https://example.com/models/add.onnx?download=1"])("%p is fetched as is, without headers", (url) => {
    expect(parseSource(url, NO_ENV)).toEqual({ kind: "http", url, headers: {} });
  });

  test("HF_TOKEN is not sent to arbitrary http(s) hosts", () => {
    expect(parseSource("https://example.com/add.onnx", { HF_TOKEN: "secret" })).toEqual({ kind: "http", url: "https://example.com/add.onnx", headers: {} });
  });
});

describe("hf:// Hugging Face Hub references", () => {
  test("hf://org/repo/path resolves on the main revision of huggingface.co", () => {
    expect(parseSource("hf://org/repo/model.onnx", NO_ENV)).toEqual({
      kind: "http",
      url: "https://huggingface.co/org/repo/resolve/main/model.onnx",
      headers: {},
    });
  });

  test("a path inside the repository keeps its folders", () => {
    const parsed = parseSource("hf://sentence-transformers/all-MiniLM-L6-v2/onnx/model.onnx", NO_ENV);
    expect(parsed).toMatchObject({ url: "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/onnx/model.onnx" });
  });

  test("@revision selects a branch, tag or commit instead of main", () => {
    expect(parseSource("hf://org/repo@v1.0/model.onnx", NO_ENV)).toMatchObject({ url: "https://huggingface.co/org/repo/resolve/v1.0/model.onnx" });
    expect(parseSource("hf://org/repo@0123abcd/onnx/model.onnx", NO_ENV)).toMatchObject({
      url: "https://huggingface.co/org/repo/resolve/0123abcd/onnx/model.onnx",
    });
  });

  test("HF_ENDPOINT replaces huggingface.co, with any trailing slash dropped", () => {
    const expected = "https://hf-mirror.example/org/repo/resolve/main/model.onnx";
    expect(parseSource("hf://org/repo/model.onnx", { HF_ENDPOINT: "https://hf-mirror.example" })).toMatchObject({ url: expected });
    expect(parseSource("hf://org/repo/model.onnx", { HF_ENDPOINT: "https://hf-mirror.example/" })).toMatchObject({ url: expected });
    expect(parseSource("hf://org/repo/model.onnx", { HF_ENDPOINT: "https://hf-mirror.example//" })).toMatchObject({ url: expected });
  });

  test("an empty HF_ENDPOINT counts as unset", () => {
    expect(parseSource("hf://org/repo/model.onnx", { HF_ENDPOINT: "" })).toMatchObject({
      url: "https://huggingface.co/org/repo/resolve/main/model.onnx",
    });
  });

  test("HF_TOKEN becomes a bearer authorization header", () => {
    expect(parseSource("hf://org/private/model.onnx", { HF_TOKEN: "hf_abc123" })).toMatchObject({
      headers: { authorization: "Bearer hf_abc123" },
    });
  });

  test("an empty HF_TOKEN sends no authorization header", () => {
    expect(parseSource("hf://org/repo/model.onnx", { HF_TOKEN: "" })).toMatchObject({ headers: {} });
  });

  test.each(["hf://org/repo", "hf://org/repo/", "hf://org", "hf://org/repo@/model.onnx", "hf:///repo/model.onnx"])(
    "the malformed reference %p is refused with the expected form in the message",
    (source) => {
      expect(rejectionOf(source).message).toContain("hf://<org>/<repo>");
    },
  );
});
