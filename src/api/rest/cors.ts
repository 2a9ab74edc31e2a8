/**
 * CORS for browsers on other origins, only when `corsOrigins` (MODELMORA_CORS_ORIGINS) names them:
 * a comma-separated list of origins, or "*" for any. Preflights are answered by @elysiajs/cors;
 * `x-request-id` is exposed so browser clients can quote it.
 */
import { cors } from "@elysiajs/cors";
import { Elysia } from "elysia";

export function corsPlugin(corsOrigins: string | undefined) {
  const origins = (corsOrigins ?? "")
    .split(",")
    .map((origin) => origin.trim())
    .filter((origin) => origin !== "");
  if (origins.length === 0) return new Elysia({ name: "cors" });
  return cors({
    origin: origins.includes("*") ? true : origins,
    exposeHeaders: ["x-request-id", "retry-after"],
    maxAge: 600,
  });
}
