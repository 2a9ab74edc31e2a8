/**
 * The load gate: a bench figure from a busy machine compares with nothing, so the serving benches
 * refuse to start while the 1-minute load average is above `QUIET_LOAD_AVERAGE`, unless forced
 * (`--force` or BENCH_FORCE=1), in which case every table they print is marked NOT QUIET.
 *
 * Checked once, before anything else runs: a bench's own children raise the load average, so a
 * second check later in the same `bun bench/run.ts` would refuse for the wrong reason.
 */
import os from "node:os";

/** Above this 1-minute load average the machine is not quiet (2 cores: a quarter of one core busy). */
export const QUIET_LOAD_AVERAGE = 0.5;

export interface LoadGate {
  /** `os.loadavg()[0]` when the gate was checked. */
  loadAverageOneMinute: number;
  /** False when the load average was above the threshold and the run was forced. */
  quiet: boolean;
}

/** `--force` on the command line or BENCH_FORCE=1 in the environment. */
export function parseForce(argv: readonly string[], environment = process.env): boolean {
  return argv.includes("--force") || environment.BENCH_FORCE === "1";
}

/**
 * Prints the load average (stderr) and returns the gate; exits the process with status 3 and a
 * message saying why when the machine is busy and `force` is false.
 */
export function checkLoadGate(force: boolean): LoadGate {
  const loadAverageOneMinute = os.loadavg()[0]!;
  const quiet = loadAverageOneMinute <= QUIET_LOAD_AVERAGE;
  process.stderr.write(`bench: 1-minute load average ${loadAverageOneMinute.toFixed(2)} (quiet means ≤ ${QUIET_LOAD_AVERAGE})\n`);
  if (!quiet && !force) {
    process.stderr.write(
      `bench: refusing to run: the machine is busy (load average ${loadAverageOneMinute.toFixed(2)} > ${QUIET_LOAD_AVERAGE}); ` +
        `its figures would not compare with anything. Wait for a quiet machine, or pass --force (BENCH_FORCE=1) to run anyway with every table marked NOT QUIET.\n`,
    );
    process.exit(3);
  }
  if (!quiet) process.stderr.write("bench: forced: every table will be marked NOT QUIET\n");
  return { loadAverageOneMinute, quiet };
}

/** A line to print above each table: empty on a quiet machine, a loud NOT QUIET mark otherwise. */
export function quietnessMark(gate: LoadGate): string {
  return gate.quiet ? "" : `**NOT QUIET** (load average ${gate.loadAverageOneMinute.toFixed(2)} > ${QUIET_LOAD_AVERAGE} at start, run with --force): do not quote these figures.\n\n`;
}
