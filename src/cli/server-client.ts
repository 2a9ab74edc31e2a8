/**
 * The CLI's HTTP client for a running server's REST API. Every failure becomes a CliError with
 * the exit code scripts rely on: 4 when the server cannot be reached, 3 for an unknown model or
 * version, 1 for any other refusal (with the server's message and error code).
 */
import type { Config } from "../config.ts";
import { CliError, EXIT, exitCodeFor, usageError } from "./exit-codes.ts";

/** Environment variable with the server's base URL (`--server` wins over it). */
export const SERVER_URL_ENVIRONMENT = "MODELMORA_URL";

export interface Answer<T> {
  status: number;
  body: T;
}

/** Environment variable with the API key the CLI sends (`--api-key` wins over it). */
export const API_KEY_ENVIRONMENT = "MODELMORA_API_KEY";

export class ServerClient {
  /** `apiKey` goes out as `Authorization: Bearer <key>` on every request. */
  constructor(
    readonly baseUrl: string,
    private readonly apiKey?: string,
  ) {}

  /**
   * JSON in, JSON out; a status of 400 or more throws, unless listed in `accept`. `long` lifts
   * Bun's 5-minute idle timeout, for calls the server answers only when done (a registration
   * that downloads a large model).
   */
  async request<T>(method: string, route: string, body?: unknown, options: { accept?: number[]; long?: boolean } = {}): Promise<Answer<T>> {
    const accept = options.accept ?? [];
    const headers: Record<string, string> = { accept: "application/json", ...(this.apiKey && { authorization: `Bearer ${this.apiKey}` }) };
    const init: BunFetchRequestInit = { method, headers, ...(options.long && { timeout: false }) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...init.headers, "content-type": "application/json" };
    }
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${route}`, init);
    } catch (error) {
      throw new CliError(
        EXIT.unreachable,
        `cannot reach the ModelMora server at ${this.baseUrl}: ${error instanceof Error ? error.message : String(error)} (start one with "modelmora serve", point --server or ${SERVER_URL_ENVIRONMENT} at one, or use --data-dir to work offline)`,
        "UNREACHABLE",
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (response.status >= 400 && !accept.includes(response.status)) throw errorFromAnswer(response.status, parsed, text);
    if (parsed === undefined && text !== "") throw new CliError(EXIT.failed, `${method} ${route} answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    return { status: response.status, body: parsed as T };
  }

  async get<T>(route: string): Promise<T> {
    return (await this.request<T>("GET", route)).body;
  }

  async post<T>(route: string, body?: unknown, options: { long?: boolean } = {}): Promise<T> {
    return (await this.request<T>("POST", route, body, options)).body;
  }
}

function errorFromAnswer(status: number, parsed: unknown, text: string): CliError {
  const body = parsed as { error?: unknown; code?: unknown; details?: unknown } | undefined;
  if (body && typeof body.error === "string") {
    const code = typeof body.code === "string" ? body.code : undefined;
    const details = typeof body.details === "object" && body.details !== null ? (body.details as Record<string, unknown>) : undefined;
    return new CliError(exitCodeFor(code), body.error, code, details);
  }
  return new CliError(EXIT.failed, `the server answered HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ""}`);
}

/**
 * The server to talk to: `--server`, else `MODELMORA_URL`, else the host and port the config
 * (file and environment) gives `serve`, with a wildcard listen address read as this machine.
 */
export function serverUrl(flag: string | undefined, environment: Record<string, string | undefined>, config: Config): string {
  const raw = flag ?? (environment[SERVER_URL_ENVIRONMENT] || `http://${clientHost(config.host)}:${config.httpPort}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`server URL "${raw}" is not a URL (write http://host:port)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw usageError(`server URL "${raw}" must start with http:// or https://`);
  return url.toString().replace(/\/+$/, "");
}

function clientHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
