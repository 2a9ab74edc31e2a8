/** `modelmora info <name>`: one model: versions, signature, config. */
import type { TensorSpec } from "../../registry/tensor-spec.ts";
import type { Command } from "../command.ts";
import { CATALOGUE_FLAGS, openCatalogue } from "../connect.ts";
import { EXIT } from "../exit-codes.ts";
import { formatBytes, formatShape, json, keyValues, table } from "../output.ts";

export const infoCommand: Command = {
  spec: {
    name: "info",
    summary: "Show one model: its versions, input/output signature and config.",
    positionals: [{ name: "name", description: "model name" }],
    flags: CATALOGUE_FLAGS,
    notes: "--json prints the REST API's model object. An unknown name exits 3.",
  },
  async run(args, { io, json: asJson }) {
    const catalogue = await openCatalogue(args, io);
    try {
      const model = await catalogue.get(args.positionals[0]!);
      if (asJson) {
        io.stdout(json(model));
        return EXIT.ok;
      }
      const signature = (direction: string, specs: TensorSpec[]) => specs.map((spec) => [direction, spec.name, spec.datatype, formatShape(spec.shape)]);
      const config = Object.entries(model.config)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]): [string, string] => [key, typeof value === "object" ? JSON.stringify(value) : String(value)]);
      io.stdout(
        [
          keyValues([
            ["name", model.name],
            ["task", model.task],
            ["active version", model.activeVersion],
            ["state", model.state ?? "-"],
            ["created", model.createdAt],
            ["updated", model.updatedAt],
          ]),
          "versions:\n" +
            table(
              ["VERSION", "ACTIVE", "SIZE", "SHA256", "SOURCE", "CREATED"],
              model.versions.map((version) => [version.version, version.version === model.activeVersion ? "*" : "", formatBytes(version.sizeBytes), version.sha256, version.source, version.createdAt]),
            ),
          "signature:\n" + table(["", "NAME", "DATATYPE", "SHAPE"], [...signature("input", model.inputs), ...signature("output", model.outputs)]),
          "config:\n" + keyValues(config),
        ].join("\n"),
      );
      return EXIT.ok;
    } finally {
      await catalogue.close();
    }
  },
};
