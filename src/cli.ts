#!/usr/bin/env bun
/**
 * `modelmora <command>`: the command-line entry. `main` dispatches to one module per command
 * under src/cli/commands and turns every failure into a message on stderr and a documented exit
 * code (src/cli/exit-codes.ts: 0 ok, 1 failed, 2 usage, 3 not found, 4 server unreachable).
 *
 * Imported by the compiled binary's entry (src/binary.ts), so it runs `main` itself only when it
 * is the program being executed.
 *
 * @example
 * const exitCode = await main(["list", "--json"]);
 */
import { ModelMoraError } from "./errors.ts";
import { ConfigError } from "./config.ts";
import { HELP, helpText, parseArguments } from "./cli/arguments.ts";
import type { Command } from "./cli/command.ts";
import { healthCommand } from "./cli/commands/health.ts";
import { inferCommand } from "./cli/commands/infer.ts";
import { jobsCommand } from "./cli/commands/jobs.ts";
import { infoCommand } from "./cli/commands/info.ts";
import { initCommand } from "./cli/commands/init.ts";
import { installCommand } from "./cli/commands/install.ts";
import { listCommand } from "./cli/commands/list.ts";
import { loadCommand, unloadCommand } from "./cli/commands/load.ts";
import { lockCommand } from "./cli/commands/lock.ts";
import { statusCommand } from "./cli/commands/status.ts";
import { syncCommand } from "./cli/commands/sync.ts";
import { uninstallCommand } from "./cli/commands/uninstall.ts";
import { CliError, EXIT, type ExitCode, exitCodeFor } from "./cli/exit-codes.ts";
import { type Io, processIo } from "./cli/io.ts";
import { StartupError } from "./runtime/startup-error.ts";

const COMMANDS: Command[] = [
  initCommand,
  installCommand,
  listCommand,
  infoCommand,
  lockCommand,
  syncCommand,
  uninstallCommand,
  loadCommand,
  unloadCommand,
  inferCommand,
  jobsCommand,
  healthCommand,
  statusCommand,
];

const USAGE = `usage: modelmora <command> [flags]      (modelmora <command> --help for its flags)

commands:
  serve       start the REST and gRPC servers
${COMMANDS.map((command) => `  ${command.spec.name.padEnd(10)}  ${command.spec.summary}`).join("\n")}

Catalogue commands (install, list, info, lock, sync, uninstall) talk to a running server
(--server URL, else $MODELMORA_URL, else the host and port of the config), or work offline on a
data directory with --data-dir DIR. The others need a running server.

exit codes: 0 ok, 1 operation failed, 2 usage error, 3 not found, 4 server unreachable
`;

/** Runs one command line (without the program name) and resolves with its exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? io.stderr : io.stdout)(USAGE);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const json = rest.includes("--json");
  try {
    // Loaded only here: the server's modules (Elysia, gRPC, the pool) would slow every other command.
    if (name === "serve") return await (await import("./cli/commands/serve.ts")).serve(rest, io);
    const command = COMMANDS.find((candidate) => candidate.spec.name === name);
    if (!command) {
      io.stderr(`modelmora: unknown command "${name}"\n\n${USAGE}`);
      return EXIT.usage;
    }
    const parsed = parseArguments(command.spec, rest);
    if (parsed === HELP) {
      io.stdout(helpText(command.spec));
      return EXIT.ok;
    }
    return await command.run(parsed, { io, json });
  } catch (error) {
    return report(error, name, json, io);
  }
}

/** Prints a failure on stderr (a JSON line with --json) and picks its exit code. */
function report(error: unknown, command: string, json: boolean, io: Io): ExitCode {
  let exitCode: ExitCode;
  let code: string | undefined;
  let details: Record<string, unknown> | undefined;
  let message: string;
  if (error instanceof StartupError) {
    // Already one line naming the setting and what to do; no usage hint, no stack.
    if (json) io.stderr(`${JSON.stringify({ error: error.message, code: "STARTUP", exitCode: EXIT.usage })}\n`);
    else io.stderr(`modelmora ${command}: ${error.message}\n`);
    return EXIT.usage;
  }
  if (error instanceof CliError) {
    ({ exitCode, code, details, message } = error);
  } else if (error instanceof ModelMoraError) {
    exitCode = exitCodeFor(error.code);
    ({ code, details, message } = error);
  } else if (error instanceof ConfigError) {
    exitCode = EXIT.usage;
    message = error.message;
  } else {
    exitCode = EXIT.failed;
    message = `unexpected error (this is a bug): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  }
  if (json) io.stderr(`${JSON.stringify({ error: message, ...(code && { code }), ...(details && { details }), exitCode })}\n`);
  else io.stderr(`modelmora ${command}: ${message}${code && code !== "USAGE" ? ` [${code}]` : ""}\n${exitCode === EXIT.usage ? `run "modelmora ${command} --help" for usage\n` : ""}`);
  return exitCode;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
