/** What every `modelmora <command>` module exports, and what it is given to run. */
import type { CommandSpec, ParsedArguments } from "./arguments.ts";
import type { ExitCode } from "./exit-codes.ts";
import type { Io } from "./io.ts";

export interface CommandContext {
  io: Io;
  /** `--json` was given: print one JSON document on stdout, no tables. */
  json: boolean;
}

export interface Command {
  spec: CommandSpec;
  /** Resolves with the exit code; failures throw CliError (or ModelMoraError offline), which the entry maps. */
  run(args: ParsedArguments, context: CommandContext): Promise<ExitCode>;
}
