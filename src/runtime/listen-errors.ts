/**
 * Why the server could not listen, as a StartupError naming the flag and variable to change:
 * the host does not resolve or is not an address of this machine, the port is taken or privileged.
 * Anything else is passed on unchanged (a bug until proven otherwise).
 */
import { lookup } from "node:dns/promises";
import { StartupError, errorCode, portInUse } from "./startup-error.ts";

const PORT_SETTINGS = {
  HTTP: { flag: "--port", variable: "MODELMORA_PORT" },
  gRPC: { flag: "--grpc-port", variable: "MODELMORA_GRPC_PORT" },
} as const;

/** Throws a StartupError when `host` does not resolve. */
export async function checkHost(host: string): Promise<void> {
  try {
    await lookup(host);
  } catch (error) {
    throw new StartupError(
      `host "${host}" (--host / MODELMORA_HOST) does not resolve (${errorCode(error) ?? "lookup failed"}): use an IP address of this machine, 0.0.0.0 for all of them, or a name it resolves`,
    );
  }
}

export function listenError(error: unknown, what: "HTTP" | "gRPC", host: string, port: number): Error {
  const { flag, variable } = PORT_SETTINGS[what];
  // grpc-js wraps the bind failure: "No address added out of total 1 resolved errors: [listen EADDRINUSE …]".
  const text = error instanceof Error ? error.message : String(error);
  const code = errorCode(error) ?? /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES)\b/.exec(text)?.[1];
  if (code === "EADDRINUSE") return portInUse(what, host, port, flag, variable);
  if (code === "EADDRNOTAVAIL") {
    return new StartupError(`host ${host} (--host / MODELMORA_HOST) is not an address of this machine: use one of its addresses, or 0.0.0.0 for all of them`);
  }
  if (code === "EACCES") {
    return new StartupError(`${what} port ${port} (${flag} / ${variable}) needs privileges this user lacks: choose a port above 1023`);
  }
  return error instanceof Error ? error : new Error(text);
}

/**
 * Fails fast, before the database is opened (seconds, and files in the data directory), when a
 * fixed port is already taken: binds each one exclusively for a moment. The real bind later can
 * still lose a race, and reports the same way.
 */
export function checkPortsFree(host: string, ports: { what: "HTTP" | "gRPC"; port: number }[]): void {
  for (const { what, port } of ports) {
    if (port === 0) continue;
    let probe: ReturnType<typeof Bun.serve> | undefined;
    try {
      probe = Bun.serve({ hostname: host, port, reusePort: false, fetch: () => new Response(null, { status: 503 }) });
    } catch (error) {
      throw listenError(error, what, host, port);
    } finally {
      void probe?.stop(true);
    }
  }
}
