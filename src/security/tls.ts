/**
 * TLS for both listeners from one set of PEM files (`MODELMORA_TLS_CERT`, `MODELMORA_TLS_KEY`,
 * optional `MODELMORA_TLS_CLIENT_CA` for mutual TLS): Bun.serve's `tls` options for HTTP and
 * grpc-js ServerCredentials for gRPC. Files are read once at start; an unreadable one stops the
 * start with a ConfigError naming the setting.
 */
import { readFileSync } from "node:fs";
import { ServerCredentials } from "@grpc/grpc-js";
import { ConfigError } from "../config.ts";
import type { SecurityConfig } from "./settings.ts";

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa: Buffer | undefined;
}

/** The PEM files, or undefined when TLS is not configured. */
export function readTlsMaterial(config: Pick<SecurityConfig, "tlsCert" | "tlsKey" | "tlsClientCa">): TlsMaterial | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  return { cert: readPem("tlsCert", config.tlsCert), key: readPem("tlsKey", config.tlsKey), clientCa: config.tlsClientCa === undefined ? undefined : readPem("tlsClientCa", config.tlsClientCa) };
}

/** Bun.serve `tls`: with a client CA, a client without a certificate it signed is refused during the handshake. */
export function httpTlsOptions(material: TlsMaterial) {
  return {
    cert: material.cert.toString("utf8"),
    key: material.key.toString("utf8"),
    ...(material.clientCa && { ca: material.clientCa.toString("utf8"), requestCert: true, rejectUnauthorized: true }),
  };
}

export function grpcServerCredentials(material: TlsMaterial): ServerCredentials {
  return ServerCredentials.createSsl(material.clientCa ?? null, [{ cert_chain: material.cert, private_key: material.key }], material.clientCa !== undefined);
}

function readPem(setting: string, filePath: string): Buffer {
  try {
    return readFileSync(filePath);
  } catch (error) {
    throw new ConfigError(`${setting}: cannot read ${filePath}: ${(error as Error).message}`);
  }
}
