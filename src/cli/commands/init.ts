/**
 * `modelmora init`: writes a commented config file (JSON with comments) holding every server
 * setting at its default, each with its environment variable and flag. `serve` and the other
 * commands read it (src/config.ts: defaults < file < environment < flags).
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Config, DEFAULT_CONFIG, DEFAULT_CONFIG_FILE, SERVE_FLAGS, environmentNameOf } from "../../config.ts";
import { GRPC_LIMITS_DESCRIPTIONS } from "../../security/grpc-limits.ts";
import { LIMIT_DESCRIPTIONS } from "../../runtime/limit-settings.ts";
import { SECURITY_DESCRIPTIONS } from "../../security/settings.ts";
import { booleanFlag, stringFlag } from "../arguments.ts";
import type { Command } from "../command.ts";
import { JSON_FLAG } from "../connect.ts";
import { CliError, EXIT } from "../exit-codes.ts";
import { json } from "../output.ts";

/** What each setting does, as the file's comments say it. Every Config key must be here. */
const DESCRIPTIONS: Record<keyof Config, string> = {
  host: "Address to listen on (HTTP and gRPC); 0.0.0.0 for every interface.",
  httpPort: "HTTP port (REST, KServe v2, /health, /metrics); 0 picks a free one.",
  grpcPort: "gRPC port (KServe v2 GRPCInferenceService, modelmora.v1, health, reflection); 0 picks a free one.",
  grpcMaxMessageMb: "Largest gRPC message received or sent; larger ones get RESOURCE_EXHAUSTED. Unset = maxBodyMb.",
  dataDir: "Embedded database (registry.sqlite) and model cache (models/sha256/). Relative to this file.",
  databaseUrl: "postgres://user:password@host:5432/db to use PostgreSQL (several servers can share it) instead of the embedded database.",
  memoryLimitMb: "Budget for all model workers' resident memory together; idle models are evicted least recently used first. Unset = unbounded.",
  maxLoadedModels: "Cap on model versions loaded at once. Unset = unbounded.",
  maxBodyMb: "Largest HTTP request body; larger ones get 413 PAYLOAD_TOO_LARGE.",
  shutdownGraceSeconds: "On SIGTERM/SIGINT, how long queued and running requests may take to finish.",
  maxModelMb: "Largest model file a registration may download or copy (PAYLOAD_TOO_LARGE beyond it). Unset = 4096.",
  shmDir: "Directory of the shared-memory arenas tensors cross to workers through. Unset = /dev/shm when it has room, else <dataDir>/shm.",
  shmMb: "Size of each shared-memory arena (one per model for queued request tensors, one per worker for outputs); sparse, only bytes in use take memory.",
  maxOutputMb: "Largest answer one request may get (all its outputs together), checked in the worker; larger ones get 422 OUTPUT_TOO_LARGE.",
  standbyWorkers: "Worker processes kept started, onnxruntime imported, for the next model load (faster cold starts; they count in the memory budget). 0 = none.",
  ...SECURITY_DESCRIPTIONS,
  ...GRPC_LIMITS_DESCRIPTIONS,
  ...LIMIT_DESCRIPTIONS,
  corsOrigins: 'Browser origins allowed to call the REST API (CORS), comma-separated, or "*". Unset = no CORS headers.',
};

/** Values written for settings whose default is "unset", as a commented-out example. */
const EXAMPLES: Partial<Record<keyof Config, string | number>> = {
  databaseUrl: "postgres://modelmora:secret@127.0.0.1:5432/modelmora",
  memoryLimitMb: 4096,
  maxLoadedModels: 8,
  shmDir: "/dev/shm",
  maxModelMb: 4096,
  corsOrigins: "https://app.example.com",
  workerMemoryLimitMb: 4096,
};

const FLAG_OF = Object.fromEntries(Object.entries(SERVE_FLAGS).map(([flag, key]) => [key, flag])) as Record<keyof Config, string>;

/** The file `init` writes; parsing it back yields the defaults. */
export function configTemplate(): string {
  const lines = [
    "// ModelMora configuration (JSON with comments), read by `modelmora serve` and the other commands.",
    `// Found via --config PATH, else $MODELMORA_CONFIG, else ./${DEFAULT_CONFIG_FILE}.`,
    "// Precedence: built-in defaults < this file < environment variables < command-line flags.",
    "// Uncomment a line to set it; delete a line to fall back to the default.",
    "{",
  ];
  const keys = Object.keys(DESCRIPTIONS) as (keyof Config)[];
  keys.forEach((key, index) => {
    const where = [environmentNameOf(key), FLAG_OF[key]].filter(Boolean).join(", ");
    lines.push(`  // ${DESCRIPTIONS[key]}${where ? ` (${where})` : ""}`);
    const value = key === "dataDir" ? "./data" : DEFAULT_CONFIG[key];
    const comma = index === keys.length - 1 ? "" : ",";
    if (value === undefined) lines.push(`  // ${JSON.stringify(key)}: ${JSON.stringify(EXAMPLES[key] ?? null)}${comma}`);
    else lines.push(`  ${JSON.stringify(key)}: ${JSON.stringify(value)}${comma}`);
    if (index < keys.length - 1) lines.push("");
  });
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

export const initCommand: Command = {
  spec: {
    name: "init",
    summary: "Write a commented config file with every server setting at its default.",
    positionals: [],
    flags: [
      { flag: "--path", value: "FILE", description: `where to write it (default ./${DEFAULT_CONFIG_FILE})` },
      { flag: "--force", description: "overwrite an existing file" },
      JSON_FLAG,
    ],
    notes: "The file is JSON with comments; `serve` and the other commands read it when it is in the working\ndirectory, or when named by --config or MODELMORA_CONFIG.",
  },
  async run(args, { io, json: asJson }) {
    const target = path.resolve(io.cwd, stringFlag(args, "--path") ?? DEFAULT_CONFIG_FILE);
    if (existsSync(target) && !booleanFlag(args, "--force")) {
      throw new CliError(EXIT.failed, `${target} already exists (pass --force to overwrite it)`, "FILE_EXISTS");
    }
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, configTemplate());
    io.stdout(asJson ? json({ path: target }) : `wrote ${target}\nstart the server with it: modelmora serve${path.basename(target) === DEFAULT_CONFIG_FILE && path.dirname(target) === io.cwd ? "" : ` --config ${target}`}\n`);
    return EXIT.ok;
  },
};
