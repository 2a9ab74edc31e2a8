/** `modelmora uninstall <name>`: unloads the model (on a server), removes it with all its versions and the cached files no other version uses. */
import type { Command } from "../command.ts";
import { CATALOGUE_FLAGS, openCatalogue } from "../connect.ts";
import { EXIT } from "../exit-codes.ts";
import { json } from "../output.ts";

export const uninstallCommand: Command = {
  spec: {
    name: "uninstall",
    summary: "Remove a model with all its versions (and cached files no other version uses).",
    positionals: [{ name: "name", description: "model name" }],
    flags: CATALOGUE_FLAGS,
    notes: "An unknown name exits 3. --json prints the removed model object.",
  },
  async run(args, { io, json: asJson }) {
    const catalogue = await openCatalogue(args, io);
    try {
      const removed = await catalogue.remove(args.positionals[0]!);
      io.stdout(asJson ? json(removed) : `uninstalled ${removed.name} (versions ${removed.versions.map((version) => version.version).join(", ")}) from ${catalogue.where}\n`);
      return EXIT.ok;
    } finally {
      await catalogue.close();
    }
  },
};
