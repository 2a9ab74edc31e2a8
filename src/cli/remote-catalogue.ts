/** The catalogue of a running server, over its REST API (`/api/v1/models…`). */
import type { ModelConfigPatch } from "../registry/model-config.ts";
import type { RegisterModelInput } from "../registry/registry.ts";
import type { Catalogue, ModelSummary } from "./catalogue.ts";
import { CliError, EXIT } from "./exit-codes.ts";
import type { Io } from "./io.ts";
import { spinner } from "./progress.ts";
import { ServerClient } from "./server-client.ts";

export class RemoteCatalogue implements Catalogue {
  readonly offline = false;
  readonly where: string;
  private readonly client: ServerClient;

  constructor(
    baseUrl: string,
    private readonly io: Io,
    apiKey?: string,
  ) {
    this.client = new ServerClient(baseUrl, apiKey);
    this.where = `server ${baseUrl}`;
  }

  list(task?: string): Promise<ModelSummary[]> {
    return this.client.get(`/api/v1/models${task ? `?task=${encodeURIComponent(task)}` : ""}`);
  }

  get(name: string): Promise<ModelSummary> {
    return this.client.get(`/api/v1/models/${encodeURIComponent(name)}`);
  }

  async find(name: string): Promise<ModelSummary | undefined> {
    try {
      return await this.get(name);
    } catch (error) {
      if (error instanceof CliError && error.exitCode === EXIT.notFound) return undefined;
      throw error;
    }
  }

  /** The server fetches the source, so there is no byte count to show: a spinner stands in for the bar. */
  async register(input: RegisterModelInput): Promise<ModelSummary> {
    const stop = spinner(this.io, `installing ${input.name} ${input.version} (the server is fetching ${input.source})`);
    try {
      return await this.client.post("/api/v1/models", input, { long: true });
    } finally {
      stop();
    }
  }

  async remove(name: string): Promise<ModelSummary> {
    return (await this.client.request<ModelSummary>("DELETE", `/api/v1/models/${encodeURIComponent(name)}`)).body;
  }

  async updateConfig(name: string, patch: ModelConfigPatch): Promise<ModelSummary> {
    return (await this.client.request<ModelSummary>("PUT", `/api/v1/models/${encodeURIComponent(name)}`, { config: patch })).body;
  }

  activate(name: string, version: string): Promise<ModelSummary> {
    return this.client.post(`/api/v1/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`, undefined, { long: true });
  }

  async close(): Promise<void> {}
}
