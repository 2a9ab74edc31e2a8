/**
 * Fetching a URL at an address checked beforehand (against DNS rebinding): the request goes to
 * the address, while the server still sees the URL's host — in the Host header, and for https in
 * the TLS server name (SNI) and the certificate check, which stay those of the host name.
 *
 * @example
 * const address = await checkRemoteSource(policy, url); // e.g. "203.0.113.7"
 * const response = await fetch(...pinnedRequest(url, address, { headers, redirect: "manual" }));
 */
import { type PeerCertificate, checkServerIdentity } from "node:tls";

/** `fetch` arguments for `url` connected to `address` (undefined: to the URL as it is). */
export function pinnedRequest(url: URL, address: string | undefined, init: BunFetchRequestInit & { headers: Record<string, string> }): [string, BunFetchRequestInit] {
  if (address === undefined) return [url.toString(), init];
  const hostname = url.hostname;
  const target = new URL(url);
  target.hostname = address.includes(":") ? `[${address}]` : address;
  const headers = { ...init.headers, host: url.host };
  if (url.protocol !== "https:") return [target.toString(), { ...init, headers }];
  return [target.toString(), { ...init, headers, tls: { ...init.tls, serverName: hostname, checkServerIdentity: (_address: string, certificate: PeerCertificate) => checkServerIdentity(hostname, certificate) } }];
}
