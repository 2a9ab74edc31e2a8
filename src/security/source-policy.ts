/**
 * Where model sources may come from. The server applies a policy built from its config to every
 * registration: local paths only under `MODELMORA_SOURCE_DIRS` (none by default), http(s) only to
 * hosts in `MODELMORA_SOURCE_HOSTS` (the Hugging Face endpoint by default) and never to loopback,
 * private or link-local addresses after DNS resolution, checked again at every redirect, with
 * connect and idle timeouts. The CLI's offline mode works on its own machine with
 * UNRESTRICTED_SOURCE_POLICY.
 *
 * A refusal is FORBIDDEN "source not allowed by policy", said before anything is read, so it never
 * reveals whether a file exists, its size or its hash. A host name is resolved once: the address
 * checked is the address connected to (src/security/pinned-fetch.ts), so a DNS answer that changes
 * between the check and the fetch (DNS rebinding) cannot lead the fetch to a private address.
 */
import { lookup } from "node:dns/promises";
import { realpath } from "node:fs/promises";
import { isIP } from "node:net";
import path from "node:path";
import { ModelMoraError } from "../errors.ts";
import { commaList } from "./settings.ts";

export interface SourcePolicy {
  /** Directories local sources must be inside (after resolving symbolic links); "any" = no limit. */
  localDirectories: string[] | "any";
  /** Host patterns (`example.com`, `*.example.com`, `*`) for http(s); "any" = no limit. */
  hosts: string[] | "any";
  /**
   * Whether http(s) may reach loopback, private, link-local and other non-public addresses: true =
   * all of them, a list = only those exact addresses (one mirror on the local network).
   */
  allowPrivateNetworks: boolean | string[];
  /** Until the response headers arrive, per request (each redirect hop). */
  connectTimeoutMilliseconds: number;
  /** Longest wait for the next chunk of a body. */
  idleTimeoutMilliseconds: number;
  /** A host name's addresses (injected in tests); default: the system resolver (node:dns lookup). */
  resolveHost?: (host: string) => Promise<string[]>;
}

/** The CLI offline: the user's own machine, own files, own network. */
export const UNRESTRICTED_SOURCE_POLICY: SourcePolicy = {
  localDirectories: "any",
  hosts: "any",
  allowPrivateNetworks: true,
  connectTimeoutMilliseconds: 30_000,
  idleTimeoutMilliseconds: 60_000,
};

/** Hosts the public Hub redirects downloads to (its CDN and storage). */
const HUB_CDN_HOSTS = ["*.huggingface.co", "*.hf.co"];

/**
 * The server's policy.
 *
 * @example
 * sourcePolicyFromConfig({ sourceDirs: "/srv/models", sourceHosts: undefined, … }, process.env)
 * // { localDirectories: ["/srv/models"], hosts: ["huggingface.co", "*.huggingface.co", "*.hf.co"], … }
 */
export function sourcePolicyFromConfig(
  config: { sourceDirs: string | undefined; sourceHosts: string | undefined; sourceAllowPrivateNetworks: boolean; sourceConnectTimeoutSeconds: number; sourceIdleTimeoutSeconds: number },
  environment: Record<string, string | undefined>,
): SourcePolicy {
  return {
    localDirectories: commaList(config.sourceDirs).map((directory) => path.resolve(directory)),
    hosts: config.sourceHosts === undefined ? defaultHosts(environment) : commaList(config.sourceHosts).map((host) => host.toLowerCase()),
    allowPrivateNetworks: config.sourceAllowPrivateNetworks,
    connectTimeoutMilliseconds: config.sourceConnectTimeoutSeconds * 1000,
    idleTimeoutMilliseconds: config.sourceIdleTimeoutSeconds * 1000,
  };
}

function defaultHosts(environment: Record<string, string | undefined>): string[] {
  let endpoint: URL;
  try {
    endpoint = new URL(environment.HF_ENDPOINT || "https://huggingface.co");
  } catch {
    return [];
  }
  const host = endpoint.hostname.toLowerCase();
  return host === "huggingface.co" ? [host, ...HUB_CDN_HOSTS] : [host];
}

export function notAllowedByPolicy(): ModelMoraError {
  return new ModelMoraError("FORBIDDEN", "source not allowed by policy", { field: "source" });
}

/** Throws FORBIDDEN unless `filePath` (symbolic links resolved) lies inside an allowed directory. */
export async function checkLocalSource(policy: SourcePolicy, filePath: string): Promise<void> {
  if (policy.localDirectories === "any") return;
  const real = await realpath(filePath).catch(() => path.resolve(filePath));
  for (const directory of policy.localDirectories) {
    const realDirectory = await realpath(directory).catch(() => directory);
    const relative = path.relative(realDirectory, real);
    if (relative !== "" && !relative.startsWith("..") && !path.isAbsolute(relative)) return;
  }
  throw notAllowedByPolicy();
}

/**
 * Throws FORBIDDEN unless `url` is http(s), to an allowed host, at an allowed address. Returns the
 * checked address the fetch must connect to (undefined: connect to the URL as it is — an address
 * literal, or a policy that allows every network and so checks no address). A name that does not
 * resolve is SOURCE_UNAVAILABLE: left to the fetch, a second lookup could answer differently.
 */
export async function checkRemoteSource(policy: SourcePolicy, url: URL): Promise<string | undefined> {
  if (url.protocol !== "http:" && url.protocol !== "https:") throw notAllowedByPolicy();
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (!hostAllowed(policy.hosts, host)) throw notAllowedByPolicy();
  if (policy.allowPrivateNetworks === true) return undefined;
  const exempt = policy.allowPrivateNetworks === false ? [] : policy.allowPrivateNetworks;
  const literal = isIP(host) !== 0;
  const addresses = literal ? [host] : await (policy.resolveHost ?? systemResolve)(host).catch(() => [] as string[]);
  if (addresses.length === 0) throw new ModelMoraError("SOURCE_UNAVAILABLE", `could not resolve the host of ${url.origin}`, { field: "source" });
  // Every address the name has must be allowed, so whichever one is connected to is.
  if (addresses.some((address) => !isPublicAddress(address) && !exempt.includes(address))) throw notAllowedByPolicy();
  if (literal) return undefined;
  return addresses.find((address) => isIP(address) === 4) ?? addresses[0];
}

async function systemResolve(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
}

export function hostAllowed(patterns: string[] | "any", host: string): boolean {
  if (patterns === "any") return true;
  return patterns.some((pattern) => pattern === "*" || pattern === host || (pattern.startsWith("*.") && host.endsWith(pattern.slice(1))));
}

/** False for loopback, private, link-local, CGNAT, multicast, reserved and unspecified addresses (IPv4 and IPv6). */
export function isPublicAddress(address: string): boolean {
  const bare = address.toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (isIP(bare) === 4) return isPublicIpv4(bare);
  if (isIP(bare) !== 6) return false;
  const mapped = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return isPublicIpv4(mapped[1]!);
  const groups = expandIpv6(bare);
  if (groups.every((group) => group === 0)) return false; // ::
  if (groups.slice(0, 7).every((group) => group === 0) && groups[7] === 1) return false; // ::1
  if (groups.slice(0, 5).every((group) => group === 0) && (groups[5] === 0xffff || groups[5] === 0)) {
    return isPublicIpv4(`${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`); // ::ffff:a.b.c.d in hex form
  }
  const first = groups[0]!;
  if ((first & 0xfe00) === 0xfc00) return false; // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80) return false; // fe80::/10 link-local
  if ((first & 0xffc0) === 0xfec0) return false; // fec0::/10 site-local (deprecated)
  if ((first & 0xff00) === 0xff00) return false; // multicast
  if (first === 0x2001 && groups[1] === 0x0db8) return false; // documentation
  if (first === 0x64 && groups[1] === 0xff9b) return false; // NAT64 in hex form
  return true;
}

function isPublicIpv4(address: string): boolean {
  const [a, b] = address.split(".").map(Number) as [number, number, number, number];
  if (a === 0 || a === 10 || a === 127) return false;
  if (a === 100 && b >= 64 && b <= 127) return false; // CGNAT
  if (a === 169 && b === 254) return false; // link-local, cloud metadata
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  if (a === 192 && b === 0) return false; // 192.0.0.0/24, 192.0.2.0/24
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a >= 224) return false; // multicast, reserved, broadcast
  return true;
}

function expandIpv6(address: string): number[] {
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split(".").map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  return [...headGroups, ...Array<string>(tail === undefined ? 0 : missing).fill("0"), ...tailGroups].map((group) => Number.parseInt(group || "0", 16));
}

/**
 * The source as stored and shown: user name, password (and a trailing `@`) removed from a URL.
 *
 * @example stripCredentials("https://user:token@host/m.onnx") // "https://host/m.onnx"
 */
export function stripCredentials(source: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return source;
  try {
    const url = new URL(source);
    if (url.username === "" && url.password === "") return source;
    url.username = "";
    url.password = "";
    return url.toString();
  } catch {
    return source;
  }
}
