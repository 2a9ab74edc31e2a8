/** Shared bits of every bench report: the machine line and markdown tables. */
import os from "node:os";
import path from "node:path";
import { type LoadGate, quietnessMark } from "./load-gate.ts";

const ROOT = path.resolve(import.meta.dir, "..", "..");

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  platform: string;
  bunVersion: string;
  date: string;
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown CPU",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.arch()}`,
    bunVersion: Bun.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
}

export function machineLine(machine: Machine): string {
  return `${machine.date} · ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB · ${machine.platform} · bun ${machine.bunVersion}`;
}

/** The commit the bench ran at, marked when src/ or workers/ had uncommitted changes. */
export function gitDescription(): string {
  const run = (args: string[]) => Bun.spawnSync({ cmd: ["git", ...args], cwd: ROOT }).stdout.toString().trim();
  const commit = run(["rev-parse", "--short", "HEAD"]) || "unknown";
  const dirty = run(["status", "--porcelain", "--", "src", "workers"]) !== "";
  return dirty ? `${commit} + uncommitted src/workers changes` : commit;
}

let commitDescription: string | undefined;

/**
 * The line every table of a gated bench starts with: the NOT QUIET mark when the run was forced on a
 * busy machine, then the commit and the Bun version the figures belong to.
 */
export function tableHeading(gate: LoadGate): string {
  commitDescription ??= gitDescription();
  return `${quietnessMark(gate)}commit ${commitDescription} · bun ${Bun.version}\n\n`;
}

/** A GitHub-markdown table; cells are printed as given. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** 1234567.8 → "1,234,568". */
export function integer(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** Three significant digits, e.g. 0.0123 → "0.0123", 12.345 → "12.3". */
export function significant(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Number(value.toPrecision(3)).toString();
}

export function ratio(value: number): string {
  return `${value.toFixed(2)}×`;
}

export function verdict(met: boolean): string {
  return met ? "met" : "missed";
}
