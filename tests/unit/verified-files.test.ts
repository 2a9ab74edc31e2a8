/**
 * A file hashed once is not hashed again while unchanged on disk; any change (same size, new bytes;
 * a replaced file; a bare `touch`) makes it hashed again, and a mismatch is never remembered.
 */
import { describe, expect, test } from "bun:test";
import { utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { VerifiedFiles } from "../../src/registry/verified-files.ts";
import { temporaryDirectory } from "../support/temporary-directory.ts";

function sha256Of(bytes: string): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** The real hash of the file, counting calls. */
function countingHash() {
  const calls: string[] = [];
  const hash = async (filePath: string) => {
    calls.push(filePath);
    return new Bun.CryptoHasher("sha256").update(await Bun.file(filePath).bytes()).digest("hex");
  };
  return { calls, hash };
}

describe("VerifiedFiles", () => {
  test("an unchanged file is hashed once; rewritten bytes of the same size, a touch or a replacement are hashed again", async () => {
    await using directory = await temporaryDirectory();
    const file = path.join(directory.path, "model.onnx");
    await writeFile(file, "original bytes");
    const expected = sha256Of("original bytes");
    const verified = new VerifiedFiles();
    const { calls, hash } = countingHash();

    expect(await verified.matches(file, expected, hash)).toEqual({ matches: true, actual: expected });
    expect(await verified.matches(file, expected, hash)).toEqual({ matches: true, actual: expected });
    expect(calls).toHaveLength(1);

    await Bun.sleep(5); // a later modification time than the first write, on any filesystem clock
    await writeFile(file, "tampered bytes");
    const changed = await verified.matches(file, expected, hash);
    expect(changed).toEqual({ matches: false, actual: sha256Of("tampered bytes") });
    expect(calls).toHaveLength(2);
    // A mismatch is not remembered: asked again, the file is hashed again.
    expect((await verified.matches(file, expected, hash)).matches).toBe(false);
    expect(calls).toHaveLength(3);

    await writeFile(file, "original bytes");
    expect((await verified.matches(file, expected, hash)).matches).toBe(true);
    expect(calls).toHaveLength(4);
    // Times set back to what they were still move ctime: hashed again.
    const { mtime, atime } = await Bun.file(file).stat();
    await utimes(file, atime, mtime);
    expect((await verified.matches(file, expected, hash)).matches).toBe(true);
    expect(calls).toHaveLength(5);
  });

  test("a file that is missing is hashed (and fails there), never taken as verified", async () => {
    const verified = new VerifiedFiles();
    const hash = async () => {
      throw new Error("ENOENT");
    };
    await expect(verified.matches("/nonexistent/model.onnx", "ab".repeat(32), hash)).rejects.toThrow("ENOENT");
  });
});
