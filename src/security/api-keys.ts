/**
 * API keys and their scopes. Keys come from `MODELMORA_API_KEYS` (`<key>:<scope>,…`) and from a
 * keys file holding only their sha256 (`<scope>:<sha256 hex>[:<key id>]` per line, `#` comments),
 * so a file on disk never holds a usable key. Only hashes are kept in memory either way.
 *
 * A presented key is hashed and compared with every stored hash in constant time (no early exit),
 * so neither the comparison nor which entry matched shows in the timing.
 *
 * @example
 * const keys = ApiKeys.from({ apiKeys: "s3cret:admin", apiKeysFile: undefined });
 * keys.identify("s3cret"); // { keyId: "key-2bb80d53", scope: "admin" }
 * // a keys file line for the same key: `admin:${hashApiKey("s3cret")}:ops`
 */
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError } from "../config.ts";

export const SCOPES = ["admin", "infer"] as const;
export type Scope = (typeof SCOPES)[number];

/** Who made a request: the key's id (never the key) and its scope. */
export interface Principal {
  keyId: string;
  scope: Scope;
}

/** The caller when no keys are configured (loopback only, or MODELMORA_ALLOW_UNAUTHENTICATED). */
export const ANONYMOUS_ADMIN: Principal = { keyId: "anonymous", scope: "admin" };

interface StoredKey extends Principal {
  hash: Buffer;
}

/** sha256 hex of a key, the form the keys file stores (`printf %s "$KEY" | sha256sum`). */
export function hashApiKey(key: string): string {
  return new Bun.CryptoHasher("sha256").update(key).digest("hex");
}

export class ApiKeys {
  private constructor(private readonly keys: StoredKey[]) {}

  /** Reads both sources; a malformed entry is a ConfigError naming where it is (never the key). */
  static from(settings: { apiKeys: string | undefined; apiKeysFile: string | undefined }): ApiKeys {
    const keys: StoredKey[] = [];
    (settings.apiKeys ?? "").split(",").forEach((entry, index) => {
      const trimmed = entry.trim();
      if (trimmed === "") return;
      const separator = trimmed.lastIndexOf(":");
      const key = trimmed.slice(0, separator);
      const scope = trimmed.slice(separator + 1);
      if (separator <= 0 || !isScope(scope)) throw new ConfigError(`MODELMORA_API_KEYS entry ${index + 1} must be <key>:<scope> with scope ${SCOPES.join(" or ")}`);
      const hash = hashApiKey(key);
      keys.push({ hash: Buffer.from(hash, "hex"), scope, keyId: `key-${hash.slice(0, 8)}` });
    });
    if (settings.apiKeysFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(settings.apiKeysFile, "utf8");
      } catch (error) {
        throw new ConfigError(`cannot read the API keys file ${settings.apiKeysFile}: ${(error as Error).message}`);
      }
      text.split("\n").forEach((line, index) => {
        const trimmed = line.trim();
        if (trimmed === "" || trimmed.startsWith("#")) return;
        const [scope, hash, keyId] = trimmed.split(":");
        if (!isScope(scope) || !/^[0-9a-f]{64}$/i.test(hash ?? "")) {
          throw new ConfigError(`${settings.apiKeysFile} line ${index + 1} must be <scope>:<sha256 hex of the key>[:<key id>]`);
        }
        keys.push({ hash: Buffer.from(hash!, "hex"), scope, keyId: keyId || `key-${hash!.slice(0, 8).toLowerCase()}` });
      });
    }
    return new ApiKeys(keys);
  }

  /** False when no key is configured: authentication is off. */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The principal of `presented`, or undefined for an unknown key. */
  identify(presented: string): Principal | undefined {
    const hash = Buffer.from(hashApiKey(presented), "hex");
    let found: StoredKey | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(key.hash, hash) && found === undefined) found = key;
    }
    return found && { keyId: found.keyId, scope: found.scope };
  }
}

function isScope(value: string | undefined): value is Scope {
  return (SCOPES as readonly string[]).includes(value ?? "");
}
