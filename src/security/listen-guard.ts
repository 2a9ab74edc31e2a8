/**
 * The server refuses to listen beyond this machine without API keys: a non-loopback host with no
 * keys configured is a ConfigError unless `MODELMORA_ALLOW_UNAUTHENTICATED=true`.
 */
import { isIP } from "node:net";
import { ConfigError } from "../config.ts";

/** 127.0.0.0/8, ::1, ::ffff:127.x and `localhost` stay on this machine; anything else (0.0.0.0, ::, a name) may not. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1" || /^::ffff:127\./.test(bare);
  return false;
}

export function assertListenAllowed(settings: { host: string; allowUnauthenticated: boolean }, keysEnabled: boolean): void {
  if (keysEnabled || settings.allowUnauthenticated || isLoopbackHost(settings.host)) return;
  throw new ConfigError(
    `refusing to listen on ${settings.host} without API keys: set MODELMORA_API_KEYS (or MODELMORA_API_KEYS_FILE), listen on 127.0.0.1, or set MODELMORA_ALLOW_UNAUTHENTICATED=true`,
  );
}
