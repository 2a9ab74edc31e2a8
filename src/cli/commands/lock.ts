/** `modelmora lock`: writes modelmora.lock pinning every model's active version (source, sha256, size, config). */
import path from "node:path";
import { stringFlag } from "../arguments.ts";
import type { Command } from "../command.ts";
import { CATALOGUE_FLAGS, openCatalogue } from "../connect.ts";
import { EXIT } from "../exit-codes.ts";
import { LOCK_FILE_NAME, lockOf, writeLockFile } from "../lock-file.ts";
import { formatBytes, json, shortSha, table } from "../output.ts";

export const lockCommand: Command = {
  spec: {
    name: "lock",
    summary: `Write ${LOCK_FILE_NAME}: each model's active version, task, source, sha256, size and config.`,
    positionals: [],
    flags: [{ flag: "--output", value: "FILE", description: `where to write it (default ./${LOCK_FILE_NAME})` }, ...CATALOGUE_FLAGS],
    notes: `"modelmora sync" installs exactly what the file pins. --json prints { path, lock }.`,
  },
  async run(args, { io, json: asJson }) {
    const target = path.resolve(io.cwd, stringFlag(args, "--output") ?? LOCK_FILE_NAME);
    const catalogue = await openCatalogue(args, io);
    try {
      const lock = lockOf(await catalogue.list());
      await writeLockFile(target, lock);
      const local = localSources(lock.models);
      if (local.length > 0) {
        io.stderr(
          `warning: ${local.length === 1 ? "this source is a local path" : "these sources are local paths"} (${local.join(", ")}); ` +
            `"modelmora sync" elsewhere needs the same files at the same paths, so register from an http(s):// or hf:// source to share the lock file\n`,
        );
      }
      if (asJson) {
        io.stdout(json({ path: target, lock }));
        return EXIT.ok;
      }
      const rows = Object.entries(lock.models).map(([name, entry]) => [name, entry.version, entry.task, formatBytes(entry.sizeBytes), shortSha(entry.sha256), entry.source]);
      if (rows.length) io.stdout(table(["NAME", "VERSION", "TASK", "SIZE", "SHA256", "SOURCE"], rows));
      io.stdout(`wrote ${target} (${rows.length} model${rows.length === 1 ? "" : "s"}, from ${catalogue.where})\n`);
      return EXIT.ok;
    } finally {
      await catalogue.close();
    }
  },
};

/** "name: path" for each model or companion-file source that is a local file (absolute path or file://). */
export function localSources(models: Record<string, { source: string; files?: Record<string, { source: string }> }>): string[] {
  const isLocal = (source: string) => source.startsWith("/") || source.startsWith("file://") || /^[A-Za-z]:[\\/]/.test(source);
  return Object.entries(models).flatMap(([name, entry]) => [
    ...(isLocal(entry.source) ? [`${name}: ${entry.source}`] : []),
    ...Object.entries(entry.files ?? {})
      .filter(([, file]) => isLocal(file.source))
      .map(([fileName, file]) => `${name} ${fileName}: ${file.source}`),
  ]);
}
