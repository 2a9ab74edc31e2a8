/** `modelmora status`: the server's loaded models (pid, memory, provider) and queue totals. */
import type { Command } from "../command.ts";
import { SERVER_ONLY_FLAGS, connectServer } from "../connect.ts";
import { EXIT } from "../exit-codes.ts";
import { formatBytes, json, keyValues, table } from "../output.ts";

interface StatusAnswer {
  models: { name: string; version: string; state: string; pid: number | null; pids: number[]; rssBytes: number | null; provider: string | null; inFlight: number; lastUsedAt: string | null }[];
  memory: { serverRssBytes: number; workersRssBytes: number };
  queue: { queued: number; inFlightBatches: number; dispatched: number; batches: number; rejectedQueueFull: number; expired: number; cancelled: number };
}

export const statusCommand: Command = {
  spec: {
    name: "status",
    summary: "Show the server's loaded models (pids, memory, provider) and queue totals.",
    positionals: [],
    flags: SERVER_ONLY_FLAGS,
    notes: "--json prints GET /api/v1/status as is: { models, memory, queue }.",
  },
  async run(args, { io, json: asJson }) {
    const client = connectServer(args, io);
    const status = await client.get<StatusAnswer>("/api/v1/status");
    if (asJson) {
      io.stdout(json(status));
      return EXIT.ok;
    }
    io.stdout(
      status.models.length
        ? table(
            ["MODEL", "VERSION", "STATE", "PIDS", "RSS", "PROVIDER", "IN FLIGHT", "LAST USED"],
            status.models.map((model) => [model.name, model.version, model.state, model.pids.join(",") || "-", formatBytes(model.rssBytes), model.provider, model.inFlight, model.lastUsedAt]),
          )
        : "no models loaded\n",
    );
    io.stdout(
      "\n" +
        keyValues([
          ["server", client.baseUrl],
          ["server rss", formatBytes(status.memory.serverRssBytes)],
          ["workers rss", formatBytes(status.memory.workersRssBytes)],
          ["queued", status.queue.queued],
          ["in-flight batches", status.queue.inFlightBatches],
          ["dispatched", status.queue.dispatched],
          ["rejected (queue full)", status.queue.rejectedQueueFull],
          ["expired", status.queue.expired],
          ["cancelled", status.queue.cancelled],
        ]),
    );
    return EXIT.ok;
  },
};
