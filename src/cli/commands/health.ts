/** `modelmora health`: liveness, readiness and each model's state; exit 0 only when the server is ready. */
import type { Command } from "../command.ts";
import { SERVER_ONLY_FLAGS, connectServer } from "../connect.ts";
import { EXIT } from "../exit-codes.ts";
import { formatBytes, json, keyValues, table } from "../output.ts";

interface ModelHealth {
  name: string;
  version: string;
  state: string;
  pid: number | null;
  rssBytes: number | null;
  provider: string | null;
  loads: number;
  restarts: number;
  lastError: string | null;
}

export const healthCommand: Command = {
  spec: {
    name: "health",
    summary: "Check the server: live, ready (database reachable, preload done, not shutting down), per-model state.",
    positionals: [],
    flags: SERVER_ONLY_FLAGS,
    notes: "Exit 0 when ready, 1 when live but not ready, 4 when unreachable. --json prints { server, live, ready, models }.",
  },
  async run(args, { io, json: asJson }) {
    const client = connectServer(args, io);
    const live = await client.request<{ status: string }>("GET", "/health/live");
    const ready = await client.request<{ status: string }>("GET", "/health/ready", undefined, { accept: [503] });
    // Per-model details need an admin key on a server with API keys; liveness and readiness never do.
    const details = await client.request<ModelHealth[]>("GET", "/health/models", undefined, { accept: [401, 403] });
    const models = details.status === 200 ? details.body : [];
    const isReady = ready.status === 200;
    if (asJson) {
      io.stdout(json({ server: client.baseUrl, live: live.status === 200, ready: ready.body.status, models }));
    } else {
      io.stdout(keyValues([["server", client.baseUrl], ["live", live.status === 200 ? "yes" : "no"], ["ready", ready.body.status]]));
      if (models.length) {
        io.stdout(
          "\n" +
            table(
              ["MODEL", "VERSION", "STATE", "PID", "RSS", "PROVIDER", "LOADS", "RESTARTS", "LAST ERROR"],
              models.map((model) => [model.name, model.version, model.state, model.pid, formatBytes(model.rssBytes), model.provider, model.loads, model.restarts, model.lastError]),
            ),
        );
      }
    }
    return isReady ? EXIT.ok : EXIT.failed;
  },
};
