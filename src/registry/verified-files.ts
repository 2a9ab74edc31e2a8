/**
 * Which files this process has hashed, and what each looked like on disk then, so that loading a
 * model again (after an idle unload, an eviction, a crash) does not hash its whole file again on
 * the first request's path while nothing about the file changed. A file counts as unchanged while
 * its inode, size, modification time and status-change time (nanoseconds) are those seen when it was
 * hashed: any write, truncation, replacement or `touch` moves ctime, which no process can set back.
 * What this gives up: corruption below the filesystem (a flipped bit on disk) between two loads of
 * one server's life is found at the next start, not at the next load.
 */
import { stat } from "node:fs/promises";

export class VerifiedFiles {
  /** Path → `${sha256} ${stamp}` as last hashed and found matching. */
  private readonly verified = new Map<string, string>();

  /**
   * True when `filePath` hashed to `sha256` in this process and has not changed since; otherwise
   * hashes it (`hash`), remembers a match, and says whether it matched (the actual hash alongside).
   */
  async matches(filePath: string, sha256: string, hash: (filePath: string) => Promise<string>): Promise<{ matches: boolean; actual: string }> {
    const before = await stamp(filePath);
    if (before !== undefined && this.verified.get(filePath) === `${sha256} ${before}`) return { matches: true, actual: sha256 };
    this.verified.delete(filePath);
    const actual = await hash(filePath);
    // Remembered only when the file did not change while it was being read.
    if (actual === sha256 && before !== undefined && (await stamp(filePath)) === before) this.verified.set(filePath, `${sha256} ${before}`);
    return { matches: actual === sha256, actual };
  }
}

async function stamp(filePath: string): Promise<string | undefined> {
  try {
    const info = await stat(filePath, { bigint: true });
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return undefined;
  }
}
