/**
 * What a command may touch of the outside world: its output streams, environment and working
 * directory. `processIo()` is the real one; tests may pass their own.
 */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Progress bars and spinners are drawn only on a terminal. */
  stderrIsTty: boolean;
  env: Record<string, string | undefined>;
  cwd: string;
}

export function processIo(): Io {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    stderrIsTty: Boolean(process.stderr.isTTY),
    env: process.env,
    cwd: process.cwd(),
  };
}
