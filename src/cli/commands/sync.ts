/**
 * `modelmora sync`: installs exactly what modelmora.lock pins. Each pinned model ends up
 * registered at the pinned version, with the pinned sha256, active, with the pinned config.
 * Already-present versions are skipped without fetching anything; a download whose sha256 differs
 * from the pin is refused and leaves nothing behind; a registered version with another checksum
 * is reported, never replaced. Every model is attempted; any failure makes the exit code 1.
 */
import path from "node:path";
import { ModelMoraError } from "../../errors.ts";
import { booleanFlag, stringFlag } from "../arguments.ts";
import type { Command } from "../command.ts";
import { CATALOGUE_FLAGS, openCatalogue } from "../connect.ts";
import { CliError, EXIT } from "../exit-codes.ts";
import { ensureInstalled } from "../install-plan.ts";
import { LOCK_FILE_NAME, byCodeUnits, readLockFile } from "../lock-file.ts";
import { json, table } from "../output.ts";

export interface SyncResult {
  name: string;
  version: string;
  /** installed (fetched now), present (nothing to do), updated (activated and/or config changed), removed (--prune), failed. */
  action: "installed" | "present" | "updated" | "removed" | "failed";
  error?: { message: string; code?: string };
}

export const syncCommand: Command = {
  spec: {
    name: "sync",
    summary: `Install exactly what ${LOCK_FILE_NAME} pins, verifying checksums; present versions are skipped.`,
    positionals: [],
    flags: [
      { flag: "--lock", value: "FILE", description: `lock file to read (default ./${LOCK_FILE_NAME})` },
      { flag: "--prune", description: "also uninstall models the lock file does not name" },
      ...CATALOGUE_FLAGS,
    ],
    notes: `Exit 0 when every pinned model is in place; 1 when any failed (checksum mismatch, source
unavailable, model does not load …), the others are still synced; 3 when the lock file does not
exist; 2 when it is malformed. --json prints { ok, models: [{ name, version, action, error? }] }.`,
  },
  async run(args, { io, json: asJson }) {
    const lockPath = path.resolve(io.cwd, stringFlag(args, "--lock") ?? LOCK_FILE_NAME);
    const lock = await readLockFile(lockPath);
    const catalogue = await openCatalogue(args, io);
    const results: SyncResult[] = [];
    try {
      for (const [name, entry] of Object.entries(lock.models).sort(([left], [right]) => byCodeUnits(left, right))) {
        try {
          const outcome = await ensureInstalled(
            catalogue,
            { name, version: entry.version, task: entry.task, source: entry.source, sha256: entry.sha256, config: entry.config ?? {}, ...(entry.files && { files: entry.files }) },
            { activate: true, config: "exact" },
          );
          const action = outcome.action === "installed" ? "installed" : outcome.activated || outcome.configUpdated ? "updated" : "present";
          results.push({ name, version: entry.version, action });
        } catch (error) {
          if (error instanceof CliError && error.exitCode === EXIT.unreachable) throw error;
          results.push({ name, version: entry.version, action: "failed", error: describe(error) });
        }
      }
      if (booleanFlag(args, "--prune")) {
        for (const model of await catalogue.list()) {
          if (Object.hasOwn(lock.models, model.name)) continue;
          try {
            await catalogue.remove(model.name);
            results.push({ name: model.name, version: model.activeVersion, action: "removed" });
          } catch (error) {
            results.push({ name: model.name, version: model.activeVersion, action: "failed", error: describe(error) });
          }
        }
      }
    } finally {
      await catalogue.close();
    }
    const failed = results.filter((result) => result.action === "failed");
    if (asJson) {
      io.stdout(json({ ok: failed.length === 0, lock: lockPath, models: results }));
    } else {
      if (results.length) io.stdout(table(["NAME", "VERSION", "ACTION", "ERROR CODE"], results.map((result) => [result.name, result.version, result.action, result.error && (result.error.code ?? "see below")])));
      const counts = ["installed", "present", "updated", "removed", "failed"].map((action) => [action, results.filter((result) => result.action === action).length] as const).filter(([, count]) => count > 0);
      io.stdout(`synced ${lockPath} with ${catalogue.where}: ${counts.map(([action, count]) => `${count} ${action}`).join(", ") || "nothing pinned"}\n`);
    }
    for (const result of failed) io.stderr(`modelmora sync: ${result.name} ${result.version}: ${result.error!.message}\n`);
    return failed.length ? EXIT.failed : EXIT.ok;
  },
};

function describe(error: unknown): { message: string; code?: string } {
  if (error instanceof CliError || error instanceof ModelMoraError) return { message: error.message, ...(error.code && { code: error.code }) };
  return { message: error instanceof Error ? error.message : String(error) };
}
