/**
 * The gRPC front end: one grpc-js Server with the KServe v2 GRPCInferenceService, the modelmora.v1
 * services, grpc.health.v1.Health and server reflection, all over the same services REST uses.
 * `createGrpcServer` builds it without listening; `listen` binds, `close` shuts down gracefully.
 */
import type { Http2Session } from "node:http2";
import { Server, ServerCredentials, type ServerInterceptor } from "@grpc/grpc-js";
import { GRPC_LIMITS_DEFAULTS, type GrpcLimitsConfig } from "../../security/grpc-limits.ts";
import { type GrpcAuthOptions, authInterceptor } from "./auth.ts";
import type { GrpcDependencies } from "./dependencies.ts";
import { HEALTH_SERVICE_NAME, HealthService } from "./health.ts";
import { addKServeService } from "./kserve/service.ts";
import { addModelmoraServices } from "./modelmora/index.ts";
import { REFLECTION_SERVICE_NAMES, addReflectionService } from "./reflection.ts";

export interface GrpcServerOptions {
  /**
   * Largest message received or sent, in bytes. Bigger requests are refused with
   * RESOURCE_EXHAUSTED before they are decoded; bigger answers fail the call the same way.
   */
  maxMessageBytes: number;
  /** API keys and scopes (src/api/grpc/auth.ts); undefined = no authentication (in-process tests). */
  auth?: GrpcAuthOptions;
  /** Server credentials (TLS, mutual TLS); undefined = plaintext. */
  credentials?: ServerCredentials;
  /** Run around every call (the access log and request metrics: call-log.ts). */
  interceptors?: ServerInterceptor[];
  /**
   * Streams per connection, keepalive, and the pending cap of bidirectional streams
   * (src/security/grpc-limits.ts); each one absent takes its default.
   */
  limits?: Partial<GrpcLimitsConfig>;
}

export interface GrpcServer {
  server: Server;
  /** Fully-qualified names of every service registered (application, health, reflection). */
  services: string[];
  /** Binds `host:port` (port 0 picks a free one) and resolves with the actual port. */
  listen(host: string, port: number): Promise<number>;
  /**
   * Graceful shutdown: health turns NOT_SERVING and Watch calls end, no new calls or connections
   * are accepted, calls in flight may finish; whatever is still open after `graceMilliseconds` is
   * cut (forceShutdown). Calling it again shares the same shutdown; a shorter grace cuts sooner
   * (`close(0)` forces now).
   */
  close(graceMilliseconds: number): Promise<void>;
}

/**
 * @example
 * const grpc = createGrpcServer(dependencies, { maxMessageBytes: 64 * 1024 * 1024 });
 * const port = await grpc.listen("127.0.0.1", 0);
 * // … later
 * await grpc.close(10_000);
 */
export function createGrpcServer(core: GrpcDependencies, options: GrpcServerOptions): GrpcServer {
  const limits: GrpcLimitsConfig = { ...GRPC_LIMITS_DEFAULTS, ...options.limits };
  // Only what the services may use: `core` may be a larger object (the server's core).
  const { inference, models, status, readiness, logger, generation, jobs } = core;
  const dependencies: GrpcDependencies = { inference, models, status, readiness, logger, generation, jobs, maxPendingPerStream: limits.grpcMaxPendingPerStream };
  const server = new Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": options.maxMessageBytes,
    "grpc.max_concurrent_streams": limits.grpcMaxConcurrentStreams,
    "grpc.keepalive_time_ms": limits.grpcKeepaliveTimeSeconds * 1000,
    "grpc.keepalive_timeout_ms": limits.grpcKeepaliveTimeoutSeconds * 1000,
    // Authentication first: an unauthenticated call is refused before it is logged as a model call.
    interceptors: [...(options.auth ? [authInterceptor(options.auth)] : []), ...(options.interceptors ?? [])],
  });
  const applicationServices = [addKServeService(server, dependencies), ...addModelmoraServices(server, dependencies)];
  const services = [...applicationServices, HEALTH_SERVICE_NAME, ...REFLECTION_SERVICE_NAMES];
  const health = new HealthService(dependencies, services);
  health.addToServer(server);
  addReflectionService(server, services);

  let closing: Promise<void> | undefined;
  let closed: () => void = () => {};
  return {
    server,
    services,
    listen(host, port) {
      return new Promise<number>((resolve, reject) => {
        server.bindAsync(`${formatHost(host)}:${port}`, options.credentials ?? ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
      }).then((boundPort) => {
        widenFlowControlWindows(server);
        return boundPort;
      });
    },
    close(graceMilliseconds) {
      closing ??= new Promise<void>((resolve) => {
        closed = resolve;
        health.close();
        server.tryShutdown(() => resolve());
      });
      const force = setTimeout(() => {
        server.forceShutdown();
        closed();
      }, graceMilliseconds);
      return closing.finally(() => clearTimeout(force));
    },
  };
}

/**
 * HTTP/2 flow-control windows of 64 KiB (the default) hold a 110 kB tensor request back until the
 * server's event loop has read the first 64 KiB and answered with WINDOW_UPDATE; at c=32 on one
 * connection the whole connection shares one such window, so clients stalled behind each other
 * (cls over KServe gRPC raw: mean batch 5.0, p99 585 ms; with these windows: 15.7 and 97 ms, and 10 %
 * more requests per second). grpc-js exposes no setting for the server's windows, so each new
 * session's are widened here, reaching into grpc-js's list of its HTTP/2 servers; if that changes
 * shape, nothing is done and the defaults stay.
 */
const CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;

function widenFlowControlWindows(server: Server): void {
  const http2Servers = (server as unknown as { http2Servers?: Map<{ on(event: "session", listener: (session: Http2Session) => void): unknown }, unknown> }).http2Servers;
  if (!(http2Servers instanceof Map)) return;
  for (const http2Server of http2Servers.keys()) {
    http2Server.on("session", (session) => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
        session.settings({ initialWindowSize: STREAM_WINDOW_BYTES });
      } catch {
        // a session already closing: nothing to widen
      }
    });
  }
}

/** An IPv6 literal needs brackets in a `host:port` target. */
function formatHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
