/**
 * `grpc.health.v1.Health` (grpc-health-check's implementation, kept current by this module).
 *
 * Service names answered:
 * - `""` and every gRPC service the server registered: SERVING while the server is ready
 *   (isServerReady), NOT_SERVING while preloading, when the database is unreachable, or once
 *   shutdown has begun.
 * - any other name is a model name: SERVING when `models.isReady` says so, NOT_SERVING when the
 *   model is registered but not ready (unhealthy) or was known and has since been deleted; a name
 *   never registered is NOT_FOUND (Check) / SERVICE_UNKNOWN (Watch), as the protocol asks.
 *
 * Freshness: the package keeps a static status map, so every Check, Watch and List first
 * recomputes the statuses it is about to answer (a Check is never stale), and while any Watch is
 * open the watched names are recomputed every WATCH_REFRESH_MILLISECONDS (a Watch hears of a
 * change within that time). The map is only written when a status changes, because the package
 * notifies watchers on every write. Nothing runs while nobody asks.
 */
import type { Server, ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation, sendUnaryData } from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus, service as healthServiceDefinition } from "grpc-health-check";
import { ModelMoraError } from "../../errors.ts";
import type { GrpcDependencies } from "./dependencies.ts";
import { isServerReady } from "../readiness.ts";

export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

/** How often the names of open Watch calls are recomputed; trades load for notice latency. */
export const WATCH_REFRESH_MILLISECONDS = 1_000;

interface HealthCheckRequest {
  service: string;
}

type HealthDependencies = Pick<GrpcDependencies, "models" | "readiness" | "logger">;

export class HealthService {
  private readonly implementation = new HealthImplementation({ "": "NOT_SERVING" });
  /** What the package's map holds, so it is written only on change. */
  private readonly statuses = new Map<string, ServingStatus>([["", "NOT_SERVING"]]);
  private readonly serverServices: Set<string>;
  /** Open Watch calls, each with the name it watches. */
  private readonly watches = new Map<ServerWritableStream<HealthCheckRequest, unknown>, string>();
  private refreshTimer: ReturnType<typeof setInterval> | undefined;
  private closing = false;

  /** `serverServices`: the fully-qualified gRPC services the server answers; they share the "" status. */
  constructor(
    private readonly dependencies: HealthDependencies,
    serverServices: readonly string[],
  ) {
    this.serverServices = new Set(serverServices);
  }

  addToServer(server: Pick<Server, "addService">): void {
    const handlers = this.packageHandlers();
    const check = handlers.check as (call: ServerUnaryCall<HealthCheckRequest, unknown>, callback: sendUnaryData<unknown>) => void;
    const watch = handlers.watch as (call: ServerWritableStream<HealthCheckRequest, unknown>) => void;
    const list = handlers.list as (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;
    server.addService(healthServiceDefinition as Parameters<Server["addService"]>[0], {
      check: (call: ServerUnaryCall<HealthCheckRequest, unknown>, callback: sendUnaryData<unknown>) => {
        void this.refresh([call.request.service]).then(() => check(call, callback));
      },
      watch: (call: ServerWritableStream<HealthCheckRequest, unknown>) => {
        if (this.closing) {
          call.end();
          return;
        }
        this.watches.set(call, call.request.service);
        call.on("cancelled", () => this.forgetWatch(call));
        this.ensureRefreshing();
        void this.refresh([call.request.service]).then(() => {
          if (!call.cancelled && !this.closing) watch(call);
        });
      },
      list: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        void this.dependencies.models.list().then(
          (models) => this.refresh(["", ...this.serverServices, ...models.map((model) => model.name)]),
          () => this.refresh(["", ...this.serverServices]),
        ).then(() => list(call, callback));
      },
    });
  }

  /**
   * Shutdown has begun: every status the server answers for turns NOT_SERVING (watchers are told),
   * then open Watch calls end so they do not hold the server's graceful shutdown open.
   */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.refreshTimer);
    for (const name of this.statuses.keys()) this.set(name, "NOT_SERVING");
    for (const call of this.watches.keys()) call.end();
    this.watches.clear();
  }

  private async refresh(names: string[]): Promise<void> {
    await Promise.all(
      [...new Set(names)].map(async (name) => {
        const status = await this.statusOf(name);
        if (status !== undefined) this.set(name, status);
      }),
    );
  }

  /** The current status of `name`; undefined for a name that is neither a service nor a model ever seen. */
  private async statusOf(name: string): Promise<ServingStatus | undefined> {
    if (this.closing) return this.statuses.has(name) || name === "" || this.serverServices.has(name) ? "NOT_SERVING" : undefined;
    if (name === "" || this.serverServices.has(name)) return (await isServerReady(this.dependencies.readiness)) ? "SERVING" : "NOT_SERVING";
    try {
      if (await this.dependencies.models.isReady(name)) return "SERVING";
      await this.dependencies.models.get(name); // registered but not ready (unhealthy)
      return "NOT_SERVING";
    } catch (error) {
      if (error instanceof ModelMoraError && error.code === "MODEL_NOT_FOUND") return this.statuses.has(name) ? "NOT_SERVING" : undefined;
      // The registry cannot answer (database down): not serving, whatever the model's state.
      this.dependencies.logger.warn({ event: "health_check_failed", service: name, error: String(error) }, "health status unknown; reporting NOT_SERVING");
      return "NOT_SERVING";
    }
  }

  private set(name: string, status: ServingStatus): void {
    if (this.statuses.get(name) === status) return;
    this.statuses.set(name, status);
    this.implementation.setStatus(name, status);
  }

  private ensureRefreshing(): void {
    if (this.refreshTimer !== undefined) return;
    this.refreshTimer = setInterval(() => void this.refresh([...this.watches.values()]), WATCH_REFRESH_MILLISECONDS);
    this.refreshTimer.unref?.();
  }

  private forgetWatch(call: ServerWritableStream<HealthCheckRequest, unknown>): void {
    this.watches.delete(call);
    if (this.watches.size === 0) {
      clearInterval(this.refreshTimer);
      this.refreshTimer = undefined;
    }
  }

  /** The package's handlers, captured from its `addToServer` so they can be wrapped. */
  private packageHandlers(): UntypedServiceImplementation {
    let captured: UntypedServiceImplementation | undefined;
    this.implementation.addToServer({ addService: (_definition, implementation) => void (captured = implementation as UntypedServiceImplementation) });
    if (!captured) throw new Error("grpc-health-check did not register its handlers; this is a bug");
    return captured;
  }
}
