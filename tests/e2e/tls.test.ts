/**
 * TLS on both listeners of a real `serve` process, with certificates generated at test time by the
 * openssl CLI (a throwaway CA, a server certificate for 127.0.0.1, a client certificate): HTTPS and
 * gRPC over TLS answer clients that trust the CA and refuse plaintext; with a client CA (mutual TLS)
 * a client without a certificate it signed is refused on both.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client, type ChannelCredentials, credentials, status } from "@grpc/grpc-js";
import { startServerProcess } from "../support/server-fixture.ts";
import { type TemporaryDirectory, temporaryDirectory } from "../support/temporary-directory.ts";
import { testDatabase } from "../support/test-database.ts";

let directory: TemporaryDirectory;
const file = (name: string) => path.join(directory.path, name);
const pem = (name: string) => readFileSync(file(name));

function openssl(...args: string[]): void {
  const result = Bun.spawnSync({ cmd: ["openssl", ...args], cwd: directory.path, stdio: ["ignore", "pipe", "pipe"] });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
}

/** A key and a certificate signed by the test CA, with `extensions` (subjectAltName, extendedKeyUsage). */
function signed(name: string, extensions: string): void {
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
  writeFileSync(file(`${name}.ext`), `${extensions}\n`);
  openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`);
}

beforeAll(() => {
  return temporaryDirectory().then((created) => {
    directory = created;
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=modelmora-test-ca");
    signed("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth");
    signed("client", "extendedKeyUsage=clientAuth");
  });
});

afterAll(async () => {
  await directory?.[Symbol.asyncDispose]();
});

/**
 * ServerLive's status code over a channel with `channelCredentials`. The target is `localhost` (in
 * the certificate's subjectAltName): Bun's TLS client refuses an IP address as the server name
 * grpc-js sets, so `127.0.0.1:port` cannot be verified from a Bun client (any server is the same).
 */
function serverLive(port: number, channelCredentials: ChannelCredentials): Promise<status> {
  const client = new Client(`localhost:${port}`, channelCredentials);
  const identity = (value: Buffer) => value;
  return new Promise<status>((resolve) =>
    client.makeUnaryRequest("/inference.GRPCInferenceService/ServerLive", identity, identity, Buffer.alloc(0), { deadline: Date.now() + 5_000 }, (error) => resolve(error ? error.code : status.OK)),
  ).finally(() => client.close());
}

async function httpsStatus(url: string, tls: Record<string, unknown>): Promise<number | string> {
  try {
    return (await fetch(url, { tls } as RequestInit)).status;
  } catch (error) {
    return (error as Error).name || "failed";
  }
}

async function startTlsServer(environment: Record<string, string>) {
  const dataDir = file(`data-${Object.keys(environment).length}`);
  const database = await testDatabase(dataDir);
  const server = await startServerProcess({ dataDir, databaseUrl: database.databaseUrl, environment: { MODELMORA_TLS_CERT: file("server.pem"), MODELMORA_TLS_KEY: file("server.key"), ...environment } });
  return {
    server,
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
      await database[Symbol.asyncDispose]();
    },
  };
}

describe("TLS", () => {
  test("HTTPS and gRPC over TLS answer a client that trusts the CA; plaintext and untrusting clients fail", async () => {
    await using running = await startTlsServer({});
    const { server } = running;
    expect(server.logs.find((line) => line.event === "listening")).toMatchObject({ tls: true });
    const ca = pem("ca.pem").toString();
    expect(await httpsStatus(`https://127.0.0.1:${server.httpPort}/health/live`, { ca })).toBe(200);
    expect(await httpsStatus(`https://127.0.0.1:${server.httpPort}/health/live`, {})).not.toBe(200);
    expect(await httpsStatus(`http://127.0.0.1:${server.httpPort}/health/live`, {})).not.toBe(200);
    expect(await serverLive(server.grpcPort, credentials.createSsl(pem("ca.pem")))).toBe(status.OK);
    expect(await serverLive(server.grpcPort, credentials.createInsecure())).toBe(status.UNAVAILABLE);
    expect(await serverLive(server.grpcPort, credentials.createSsl())).toBe(status.UNAVAILABLE);
  }, 60_000);

  test("with MODELMORA_TLS_CLIENT_CA, only clients presenting a certificate it signed are served", async () => {
    await using running = await startTlsServer({ MODELMORA_TLS_CLIENT_CA: file("ca.pem") });
    const { server } = running;
    const ca = pem("ca.pem").toString();
    const url = `https://127.0.0.1:${server.httpPort}/health/live`;
    expect(await httpsStatus(url, { ca, cert: pem("client.pem").toString(), key: pem("client.key").toString() })).toBe(200);
    expect(await httpsStatus(url, { ca })).not.toBe(200);
    expect(await serverLive(server.grpcPort, credentials.createSsl(pem("ca.pem"), pem("client.key"), pem("client.pem")))).toBe(status.OK);
    expect(await serverLive(server.grpcPort, credentials.createSsl(pem("ca.pem")))).not.toBe(status.OK);
  }, 60_000);
});
