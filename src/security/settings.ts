/**
 * The security settings of the server Config (API keys, TLS, source policy), kept here so that
 * src/config.ts only spreads them in: their defaults, environment names, descriptions for
 * `modelmora init`, and their parsing from raw strings. Lists are comma-separated strings, so the
 * config file holds them as strings like every other setting.
 */
export interface SecurityConfig {
  /** `<key>:<scope>[,<key>:<scope>…]`, scope `admin` or `infer`. Unset with no keys file = no authentication. */
  apiKeys: string | undefined;
  /** A file of hashed keys, one `<scope>:<sha256 hex of the key>[:<key id>]` per line (`#` comments). */
  apiKeysFile: string | undefined;
  /**
   * Without keys the server refuses a non-loopback listen address; true lets it listen anyway
   * (for a trusted network or an authenticating proxy in front).
   */
  allowUnauthenticated: boolean;
  /** REST paths answered without a key, comma-separated (exact paths). */
  openPaths: string;
  /** PEM certificate chain and private key: both set = HTTPS and gRPC over TLS. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** PEM CA bundle: set = clients must present a certificate it signed (mutual TLS). */
  tlsClientCa: string | undefined;
  /** Directories model files may be registered from over the network, comma-separated; unset = none. */
  sourceDirs: string | undefined;
  /**
   * Hosts http(s) sources may be fetched from (and redirected to), comma-separated; `*.example.com`
   * matches subdomains, `*` any public host. Unset = the Hugging Face endpoint's host (and, for the
   * public Hub, its CDN hosts `*.huggingface.co`, `*.hf.co`).
   */
  sourceHosts: string | undefined;
  /**
   * True lets http(s) sources reach loopback, private and link-local addresses (a hub mirror on the
   * local network, the tests' hub on 127.0.0.1). Off by default: the server is then an SSRF oracle.
   */
  sourceAllowPrivateNetworks: boolean;
  /** A source that has not answered with headers within this long is abandoned. */
  sourceConnectTimeoutSeconds: number;
  /** A download that receives no byte for this long is abandoned (nothing is kept). */
  sourceIdleTimeoutSeconds: number;
}

export const SECURITY_DEFAULTS: SecurityConfig = {
  apiKeys: undefined,
  apiKeysFile: undefined,
  allowUnauthenticated: false,
  openPaths: "/health/live,/health/ready,/metrics,/v2/health/live,/v2/health/ready",
  tlsCert: undefined,
  tlsKey: undefined,
  tlsClientCa: undefined,
  sourceDirs: undefined,
  sourceHosts: undefined,
  sourceAllowPrivateNetworks: false,
  sourceConnectTimeoutSeconds: 10,
  sourceIdleTimeoutSeconds: 30,
};

export const SECURITY_ENVIRONMENT_NAMES: Record<keyof SecurityConfig, string> = {
  apiKeys: "MODELMORA_API_KEYS",
  apiKeysFile: "MODELMORA_API_KEYS_FILE",
  allowUnauthenticated: "MODELMORA_ALLOW_UNAUTHENTICATED",
  openPaths: "MODELMORA_OPEN_PATHS",
  tlsCert: "MODELMORA_TLS_CERT",
  tlsKey: "MODELMORA_TLS_KEY",
  tlsClientCa: "MODELMORA_TLS_CLIENT_CA",
  sourceDirs: "MODELMORA_SOURCE_DIRS",
  sourceHosts: "MODELMORA_SOURCE_HOSTS",
  sourceAllowPrivateNetworks: "MODELMORA_SOURCE_ALLOW_PRIVATE_NETWORKS",
  sourceConnectTimeoutSeconds: "MODELMORA_SOURCE_CONNECT_TIMEOUT_SECONDS",
  sourceIdleTimeoutSeconds: "MODELMORA_SOURCE_IDLE_TIMEOUT_SECONDS",
};

export const SECURITY_DESCRIPTIONS: Record<keyof SecurityConfig, string> = {
  apiKeys: "API keys as <key>:<scope>[,<key>:<scope>…], scope admin or infer. Without keys the server only listens on loopback.",
  apiKeysFile: "File of hashed API keys, one <scope>:<sha256 hex of the key>[:<key id>] per line.",
  allowUnauthenticated: "true lets the server listen on a non-loopback address without API keys.",
  openPaths: "REST paths answered without an API key, comma-separated.",
  tlsCert: "PEM certificate chain; with tlsKey, HTTPS and gRPC over TLS.",
  tlsKey: "PEM private key of tlsCert.",
  tlsClientCa: "PEM CA bundle; set = clients must present a certificate it signed (mutual TLS).",
  sourceDirs: "Directories model files may be registered from by path, comma-separated. Unset = none.",
  sourceHosts: "Hosts http(s) and hf:// sources may be fetched from, comma-separated (*.example.com, * = any public host). Unset = the Hugging Face endpoint.",
  sourceAllowPrivateNetworks: "true lets http(s) sources reach loopback, private and link-local addresses.",
  sourceConnectTimeoutSeconds: "A source that has not answered within this long is abandoned.",
  sourceIdleTimeoutSeconds: "A download receiving nothing for this long is abandoned.",
};

/** Raw string values (file, environment, flags) → typed settings; `fail` reports a bad value. */
export function resolveSecurityConfig(merged: Partial<Record<keyof SecurityConfig, string | undefined>>, fail: (message: string) => Error): SecurityConfig {
  const config = { ...SECURITY_DEFAULTS };
  const text = (key: "apiKeys" | "apiKeysFile" | "tlsCert" | "tlsKey" | "tlsClientCa" | "sourceDirs" | "sourceHosts") => {
    if (merged[key] !== undefined) config[key] = merged[key];
  };
  for (const key of ["apiKeys", "apiKeysFile", "tlsCert", "tlsKey", "tlsClientCa", "sourceDirs", "sourceHosts"] as const) text(key);
  if (merged.openPaths !== undefined) config.openPaths = merged.openPaths;
  for (const key of ["allowUnauthenticated", "sourceAllowPrivateNetworks"] as const) {
    const raw = merged[key];
    if (raw === undefined) continue;
    if (raw !== "true" && raw !== "false") throw fail(`${key} must be true or false, got "${raw}"`);
    config[key] = raw === "true";
  }
  for (const key of ["sourceConnectTimeoutSeconds", "sourceIdleTimeoutSeconds"] as const) {
    const raw = merged[key];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw fail(`${key} must be a positive number, got "${raw}"`);
    config[key] = value;
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) throw fail("tlsCert and tlsKey must be set together");
  if (config.tlsClientCa !== undefined && config.tlsCert === undefined) throw fail("tlsClientCa needs tlsCert and tlsKey");
  return config;
}

/** "a, b,,c" → ["a", "b", "c"]. */
export function commaList(value: string | undefined): string[] {
  return (value ?? "").split(",").map((item) => item.trim()).filter((item) => item !== "");
}
