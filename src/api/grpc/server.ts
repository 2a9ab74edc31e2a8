/**
 * The gRPC front end: one grpc-js Server with the KServe v2 GRPCInferenceService, the modelmora.v1
 * services, grpc.health.v1.Health and server reflection, all over the same services REST uses.
 * `createGrpcServer` builds it without listening; `listen` binds, `close` shuts down gracefully.
 */
import { Server, ServerCredentials, type ServerInterceptor } from "@grpc/grpc-js";
import { type GrpcAuthOptions, authInterceptor } from "./auth.ts";
import type { GrpcDependencies } from "./dependencies.ts";
import { HEALTH_SERVICE_NAME, HealthService } from "./health.ts";
import { addKServeService } from "./kserve-service.ts";
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
export function createGrpcServer(dependencies: GrpcDependencies, options: GrpcServerOptions): GrpcServer {
  const server = new Server({
    "grpc.max_receive_message_length": options.maxMessageBytes,
    "grpc.max_send_message_length": options.maxMessageBytes,
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
      return new Promise((resolve, reject) => {
        server.bindAsync(`${formatHost(host)}:${port}`, options.credentials ?? ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
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

/** An IPv6 literal needs brackets in a `host:port` target. */
function formatHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
