/**
 * `modelmora infer <name> --input body.json`: one synchronous inference on the server with a
 * KServe v2 JSON body (`{ inputs: [{ name, shape, datatype, data }], … }`, or a task's own body),
 * printing the outputs.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { stringFlag } from "../arguments.ts";
import type { Command } from "../command.ts";
import { SERVER_ONLY_FLAGS, connectServer } from "../connect.ts";
import { CliError, EXIT, usageError } from "../exit-codes.ts";
import { formatShape, json, previewValues, table } from "../output.ts";

interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown;
}

export const inferCommand: Command = {
  spec: {
    name: "infer",
    summary: "Run one inference on the server and print the outputs.",
    positionals: [{ name: "name", description: "model name" }],
    flags: [
      { flag: "--input", value: "FILE", description: "request body as JSON (KServe v2: { inputs: [{ name, shape, datatype, data }] }); - reads stdin" },
      { flag: "--version", value: "VERSION", description: "a version other than the active one" },
      ...SERVER_ONLY_FLAGS,
    ],
    notes: `The table shows each output's first values; --json prints the whole response
{ model_name, model_version, outputs: [{ name, shape, datatype, data }] }.
Exit 3 for an unknown model or a missing input file, 2 for an input that is not JSON, 1 when the server
refuses the request (wrong tensor names, shapes or datatypes …).`,
  },
  async run(args, { io, json: asJson }) {
    const inputPath = stringFlag(args, "--input");
    if (inputPath === undefined) throw usageError("--input FILE is required (a JSON request body; - for stdin)");
    const body = await readBody(inputPath, io.cwd);
    const version = stringFlag(args, "--version");
    const client = connectServer(args, io);
    const answer = await client.post<{ model_name?: string; model_version?: string; outputs?: OutputTensor[] }>(
      `/api/v1/infer/${encodeURIComponent(args.positionals[0]!)}${version ? `?version=${encodeURIComponent(version)}` : ""}`,
      body,
      { long: true },
    );
    if (asJson || !Array.isArray(answer.outputs)) {
      io.stdout(json(answer));
      return EXIT.ok;
    }
    io.stdout(`${answer.model_name} ${answer.model_version}\n`);
    io.stdout(table(["OUTPUT", "DATATYPE", "SHAPE", "DATA"], answer.outputs.map((output) => [output.name, output.datatype, formatShape(output.shape), previewValues(output.data)])));
    return EXIT.ok;
  },
};

/** The request body from a JSON file, or stdin for "-". */
export async function readBody(inputPath: string, cwd: string): Promise<unknown> {
  let text: string;
  if (inputPath === "-") {
    text = await new Response(Bun.stdin.stream()).text();
  } else {
    const resolved = path.resolve(cwd, inputPath);
    try {
      text = await readFile(resolved, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new CliError(EXIT.notFound, `input file ${resolved} does not exist`, "FILE_NOT_FOUND");
      throw usageError(`cannot read input file ${resolved}: ${(error as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw usageError(`input ${inputPath === "-" ? "on stdin" : inputPath} is not valid JSON: ${(error as Error).message}`);
  }
}
