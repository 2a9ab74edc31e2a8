/** A fresh directory under the OS temp dir, removed on dispose (`await using`). */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export interface TemporaryDirectory extends AsyncDisposable {
  path: string;
}

export async function temporaryDirectory(prefix = "modelmora-test-"): Promise<TemporaryDirectory> {
  const directory = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { path: directory, [Symbol.asyncDispose]: () => rm(directory, { recursive: true, force: true }) };
}
