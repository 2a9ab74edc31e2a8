/**
 * Large job answers as files under `<dataDir>/job-results/<jobId>/<leaseToken>.json`, one per job
 * attempt, so two attempts never write the same file. The row keeps the path relative to the data
 * directory. (Rows written before 0003 name `job-results/<jobId>-<leaseToken>.json`; they are read
 * and removed by the path they name.)
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ModelMoraError } from "../../errors.ts";
import type { ResultStore } from "./result-store.ts";

export const RESULT_DIRECTORY = "job-results";

export class FileResultStore implements ResultStore {
  readonly kind = "files" as const;

  constructor(private readonly dataDir: string) {}

  async write(jobId: string, leaseToken: string, json: string): Promise<string> {
    const relative = path.join(RESULT_DIRECTORY, jobId, `${leaseToken}.json`);
    const target = this.resolve(relative);
    await mkdir(path.dirname(target), { recursive: true });
    // Written aside and renamed: a crash mid-write never leaves a half answer under the recorded name.
    await writeFile(`${target}.partial`, json);
    await rename(`${target}.partial`, target);
    return relative;
  }

  async read(relative: string): Promise<unknown> {
    try {
      return JSON.parse(await readFile(this.resolve(relative), "utf8"));
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw error;
      // A replica with its own data directory computed it: use MODELMORA_JOB_RESULT_STORE=database.
      throw new ModelMoraError("INTERNAL", `the job's result file ${relative} is not in this server's data directory (another replica wrote it; MODELMORA_JOB_RESULT_STORE=database keeps results readable from every replica)`);
    }
  }

  async remove(relative: string): Promise<void> {
    await rm(this.resolve(relative), { force: true });
  }

  async removeJob(jobId: string): Promise<void> {
    await rm(this.resolve(path.join(RESULT_DIRECTORY, jobId)), { recursive: true, force: true });
  }

  private resolve(relative: string): string {
    const resolved = path.resolve(this.dataDir, relative);
    if (!resolved.startsWith(path.resolve(this.dataDir, RESULT_DIRECTORY) + path.sep)) throw new Error(`job result path ${relative} is outside the result store (this is a bug)`);
    return resolved;
  }
}
