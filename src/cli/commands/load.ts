/** `modelmora load <name>` / `modelmora unload <name>`: start or stop a model's worker process(es) on the server now. */
import type { WorkerStatus } from "../../lifecycle/pool.ts";
import { stringFlag } from "../arguments.ts";
import type { Command } from "../command.ts";
import { SERVER_ONLY_FLAGS, connectServer } from "../connect.ts";
import { EXIT } from "../exit-codes.ts";
import { formatBytes, json, keyValues } from "../output.ts";

const VERSION_FLAG = { flag: "--version", value: "VERSION", description: "a version other than the active one" };

function route(name: string, action: "load" | "unload", version: string | undefined): string {
  return `/api/v1/models/${encodeURIComponent(name)}/${action}${version ? `?version=${encodeURIComponent(version)}` : ""}`;
}

export const loadCommand: Command = {
  spec: {
    name: "load",
    summary: "Load a model's worker(s) on the server now (also clears an unhealthy mark).",
    positionals: [{ name: "name", description: "model name" }],
    flags: [VERSION_FLAG, ...SERVER_ONLY_FLAGS],
    notes: "Exit 3 for an unknown model or version, 1 when the model fails to load. --json prints the worker status.",
  },
  async run(args, { io, json: asJson }) {
    const client = connectServer(args, io);
    const status = await client.post<WorkerStatus>(route(args.positionals[0]!, "load", stringFlag(args, "--version")), undefined, { long: true });
    io.stdout(
      asJson
        ? json(status)
        : keyValues([
            ["model", `${status.name} ${status.version}`],
            ["state", status.state],
            ["pids", status.pids.join(", ")],
            ["provider", status.provider],
            ["rss", formatBytes(status.rssBytes)],
          ]),
    );
    return EXIT.ok;
  },
};

export const unloadCommand: Command = {
  spec: {
    name: "unload",
    summary: "Stop a model's worker process(es) on the server; the next request loads it again.",
    positionals: [{ name: "name", description: "model name" }],
    flags: [VERSION_FLAG, ...SERVER_ONLY_FLAGS],
    notes: "Exit 3 for an unknown model. --json prints { name, state }.",
  },
  async run(args, { io, json: asJson }) {
    const client = connectServer(args, io);
    const answer = await client.post<{ name: string; state: string }>(route(args.positionals[0]!, "unload", stringFlag(args, "--version")));
    io.stdout(asJson ? json(answer) : `unloaded ${answer.name}\n`);
    return EXIT.ok;
  },
};
