/** Resident memory of a process, read from /proc (Linux). Undefined when it cannot be read. */
import { readFileSync } from "node:fs";

export type ProbeMemory = (pid: number) => number | undefined;

export const probeProcessRss: ProbeMemory = (pid) => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
};
