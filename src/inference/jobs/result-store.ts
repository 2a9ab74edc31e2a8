/**
 * Large job answers as files under `<dataDir>/job-results/`, one per job attempt
 * (`<jobId>-<leaseToken>.json`), so two attempts never write the same file. The row keeps the path
 * relative to the data directory and the size.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ModelMoraError } from "../../errors.ts";

export const RESULT_DIRECTORY = "job-results";

export class ResultStore {
  constructor(private readonly dataDir: string) {}

  /** Writes the answer's JSON; resolves with the path to record in the row. */
  async write(jobId: string, leaseToken: string, json: string): Promise<string> {
    const relative = path.join(RESULT_DIRECTORY, `${jobId}-${leaseToken}.json`);
    await mkdir(path.join(this.dataDir, RESULT_DIRECTORY), { recursive: true });
    await writeFile(path.join(this.dataDir, relative), json);
    return relative;
  }

  async read(relative: string): Promise<unknown> {
    try {
      return JSON.parse(await readFile(this.resolve(relative), "utf8"));
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw error;
      // A replica with its own data directory computed it: results over the inline limit need a shared volume.
      throw new ModelMoraError("INTERNAL", `the job's result file ${relative} is not in this server's data directory (another replica wrote it)`);
    }
  }

  async remove(relative: string): Promise<void> {
    await rm(this.resolve(relative), { force: true });
  }

  private resolve(relative: string): string {
    const resolved = path.resolve(this.dataDir, relative);
    if (!resolved.startsWith(path.resolve(this.dataDir, RESULT_DIRECTORY) + path.sep)) throw new Error(`job result path ${relative} is outside the result store (this is a bug)`);
    return resolved;
  }
}
