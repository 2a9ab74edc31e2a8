/** `modelmora list [--task T]`: the registered models, one row each. */
import { stringFlag } from "../arguments.ts";
import type { Command } from "../command.ts";
import { CATALOGUE_FLAGS, openCatalogue } from "../connect.ts";
import { EXIT } from "../exit-codes.ts";
import { formatBytes, json, shortSha, table } from "../output.ts";

export const listCommand: Command = {
  spec: {
    name: "list",
    summary: "List the registered models (state shows only on a server).",
    positionals: [],
    flags: [{ flag: "--task", value: "TASK", description: "only models of this task" }, ...CATALOGUE_FLAGS],
    notes: "--json prints the REST API's model objects: [{ name, task, activeVersion, versions, config, inputs, outputs, state }].",
  },
  async run(args, { io, json: asJson }) {
    const catalogue = await openCatalogue(args, io);
    try {
      const models = await catalogue.list(stringFlag(args, "--task"));
      if (asJson) {
        io.stdout(json(models));
        return EXIT.ok;
      }
      if (models.length === 0) {
        io.stdout(`no models registered (${catalogue.where})\n`);
        return EXIT.ok;
      }
      const rows = models.map((model) => {
        const active = model.versions.find((version) => version.version === model.activeVersion);
        return [model.name, model.activeVersion, model.versions.length, model.task, model.state ?? "-", formatBytes(active?.sizeBytes), active && shortSha(active.sha256), active?.source];
      });
      io.stdout(table(["NAME", "VERSION", "VERSIONS", "TASK", "STATE", "SIZE", "SHA256", "SOURCE"], rows));
      return EXIT.ok;
    } finally {
      await catalogue.close();
    }
  },
};
