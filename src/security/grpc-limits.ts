/**
 * The gRPC front end's resource limits in the server Config, kept here so that src/config.ts only
 * spreads them in: defaults, environment names, descriptions for `modelmora init`, bounds, and
 * their parsing from raw strings. The gRPC server (src/api/grpc/server.ts) applies them.
 */
export interface GrpcLimitsConfig {
  /**
   * Requests one bidirectional stream (KServe ModelStreamInfer, modelmora.v1 InferStream) may have
   * in the server at once, read but not yet answered. At the cap the stream stops reading (HTTP/2
   * flow control then holds the client back); it reads again as answers go out. More lets one
   * stream fill bigger batches and overtake by priority within more of its requests; fewer bounds
   * what one client can make the server hold.
   */
  grpcMaxPendingPerStream: number;
  /**
   * HTTP/2 streams (calls) one connection may have open at once; a client opening more waits for
   * one to close. Bounds what one connection can make the server hold.
   */
  grpcMaxConcurrentStreams: number;
  /**
   * After this long without activity on a connection the server pings the client; a client that
   * does not answer within `grpcKeepaliveTimeoutSeconds` is disconnected, and its calls cancelled
   * (their queued requests dropped). Shorter finds dead clients sooner at the cost of pings.
   */
  grpcKeepaliveTimeSeconds: number;
  grpcKeepaliveTimeoutSeconds: number;
}

export const GRPC_LIMITS_DEFAULTS: GrpcLimitsConfig = {
  grpcMaxPendingPerStream: 64,
  grpcMaxConcurrentStreams: 128,
  grpcKeepaliveTimeSeconds: 120,
  grpcKeepaliveTimeoutSeconds: 20,
};

/** Inclusive bounds of each limit: a value outside them fails the start, naming the setting. */
export const GRPC_LIMITS_BOUNDS: Record<keyof GrpcLimitsConfig, readonly [number, number]> = {
  grpcMaxPendingPerStream: [1, 4096],
  grpcMaxConcurrentStreams: [1, 10_000],
  grpcKeepaliveTimeSeconds: [1, 86_400],
  grpcKeepaliveTimeoutSeconds: [1, 3600],
};

export const GRPC_LIMITS_ENVIRONMENT_NAMES: Record<keyof GrpcLimitsConfig, string> = {
  grpcMaxPendingPerStream: "MODELMORA_GRPC_MAX_PENDING_PER_STREAM",
  grpcMaxConcurrentStreams: "MODELMORA_GRPC_MAX_CONCURRENT_STREAMS",
  grpcKeepaliveTimeSeconds: "MODELMORA_GRPC_KEEPALIVE_TIME_SECONDS",
  grpcKeepaliveTimeoutSeconds: "MODELMORA_GRPC_KEEPALIVE_TIMEOUT_SECONDS",
};

export const GRPC_LIMITS_FLAGS: Record<string, keyof GrpcLimitsConfig> = {
  "--grpc-max-pending-per-stream": "grpcMaxPendingPerStream",
  "--grpc-max-concurrent-streams": "grpcMaxConcurrentStreams",
  "--grpc-keepalive-time-seconds": "grpcKeepaliveTimeSeconds",
  "--grpc-keepalive-timeout-seconds": "grpcKeepaliveTimeoutSeconds",
};

export const GRPC_LIMITS_DESCRIPTIONS: Record<keyof GrpcLimitsConfig, string> = {
  grpcMaxPendingPerStream: "Requests one gRPC bidirectional stream may have unanswered in the server; at the cap the stream stops reading until answers go out.",
  grpcMaxConcurrentStreams: "gRPC calls one connection may have open at once.",
  grpcKeepaliveTimeSeconds: "Idle time after which the gRPC server pings a connection.",
  grpcKeepaliveTimeoutSeconds: "A gRPC client that does not answer a ping within this long is disconnected.",
};

/** Raw string values (file, environment, flags) → whole numbers within GRPC_LIMITS_BOUNDS; `fail` reports a bad value. */
export function resolveGrpcLimits(merged: Partial<Record<keyof GrpcLimitsConfig, string | undefined>>, fail: (message: string) => Error): GrpcLimitsConfig {
  const config = { ...GRPC_LIMITS_DEFAULTS };
  for (const key of Object.keys(GRPC_LIMITS_DEFAULTS) as (keyof GrpcLimitsConfig)[]) {
    const raw = merged[key];
    if (raw === undefined) continue;
    const [minimum, maximum] = GRPC_LIMITS_BOUNDS[key];
    const value = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < minimum || value > maximum) throw fail(`${key} must be a whole number ${minimum}..${maximum}, got "${raw}"`);
    config[key] = value;
  }
  return config;
}
