/**
 * The command-line grammar every command shares: positionals, `--flag value`, `--flag=value`,
 * boolean `--switch`, `--` to end flags, and `--help`/`-h`. Each command declares its arguments
 * once (CommandSpec); parsing and the `--help` text both come from that declaration.
 */
import { usageError } from "./exit-codes.ts";

export interface FlagSpec {
  /** Written with its dashes: `--name`. */
  flag: string;
  /** Placeholder for the value in help (`NAME`); absent for a boolean switch. */
  value?: string;
  description: string;
}

export interface PositionalSpec {
  name: string;
  description: string;
  optional?: boolean;
}

export interface CommandSpec {
  name: string;
  /** One line for `modelmora --help`. */
  summary: string;
  positionals: PositionalSpec[];
  flags: FlagSpec[];
  /** Paragraphs printed after the flags in `--help`. */
  notes?: string;
}

export interface ParsedArguments {
  positionals: string[];
  /** A switch maps to true; a flag with a value to its string. Repeated flags: the last wins. */
  flags: Map<string, string | true>;
}

/** Set when the arguments ask for help; commands print `helpText(spec)` and exit 0. */
export const HELP = Symbol("help");

export function parseArguments(spec: CommandSpec, argv: readonly string[]): ParsedArguments | typeof HELP {
  const known = new Map(spec.flags.map((flag) => [flag.flag, flag]));
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  let flagsEnded = false;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (flagsEnded || !argument.startsWith("-") || argument === "-") {
      positionals.push(argument);
      continue;
    }
    if (argument === "--") {
      flagsEnded = true;
      continue;
    }
    if (argument === "--help" || argument === "-h") return HELP;
    const equals = argument.indexOf("=");
    const name = equals >= 0 ? argument.slice(0, equals) : argument;
    const flag = known.get(name);
    if (!flag) throw usageError(`unknown flag ${name}${hintFor(name)}`);
    if (flag.value === undefined) {
      if (equals >= 0) throw usageError(`flag ${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    const value = equals >= 0 ? argument.slice(equals + 1) : argv[++index];
    if (value === undefined || value === "" || (equals < 0 && value.startsWith("--"))) throw usageError(`flag ${name} needs a value (${flag.value})`);
    flags.set(name, value);
  }
  const required = spec.positionals.filter((positional) => !positional.optional).length;
  if (positionals.length < required) {
    const missing = spec.positionals[positionals.length]!;
    throw usageError(`missing argument <${missing.name}>`);
  }
  if (positionals.length > spec.positionals.length) throw usageError(`unexpected argument "${positionals[spec.positionals.length]}"`);
  return { positionals, flags };
}

function hintFor(flag: string): string {
  if (flag === "--data-dir") return " (this command needs a running server; only install, list, info, lock, sync and uninstall work offline on a data directory)";
  return "";
}

/** The string value of `flag`, or undefined when it was not given. */
export function stringFlag(parsed: ParsedArguments, flag: string): string | undefined {
  const value = parsed.flags.get(flag);
  return typeof value === "string" ? value : undefined;
}

export function booleanFlag(parsed: ParsedArguments, flag: string): boolean {
  return parsed.flags.get(flag) === true;
}

/** `modelmora <name> --help`. */
export function helpText(spec: CommandSpec): string {
  const positionals = spec.positionals.map((positional) => (positional.optional ? `[<${positional.name}>]` : `<${positional.name}>`)).join(" ");
  const lines = [`usage: modelmora ${spec.name}${positionals ? ` ${positionals}` : ""}${spec.flags.length ? " [flags]" : ""}`, "", spec.summary];
  if (spec.positionals.length) {
    lines.push("", "arguments:");
    for (const positional of spec.positionals) lines.push(`  ${`<${positional.name}>`.padEnd(24)} ${positional.description}`);
  }
  if (spec.flags.length) {
    lines.push("", "flags:");
    for (const flag of spec.flags) {
      const left = flag.value ? `${flag.flag} ${flag.value}` : flag.flag;
      lines.push(left.length > 24 ? `  ${left}\n  ${"".padEnd(24)} ${flag.description}` : `  ${left.padEnd(24)} ${flag.description}`);
    }
    lines.push(`  ${"--help, -h".padEnd(24)} this text`);
  }
  if (spec.notes) lines.push("", spec.notes.trim());
  return `${lines.join("\n")}\n`;
}
