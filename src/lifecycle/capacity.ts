/**
 * The pool's side of admission and eviction: it measures what is resident, asks the pure
 * `planAdmission` (admission.ts) what to do, and acts — evicts idle models, or parks the caller until
 * a model goes idle, loads or stops. Footprints are measured RSS once a model runs, estimates before.
 *
 * Invariants: a model with work in flight, loading or replacing a replica is never evicted; every
 * eviction goes through the pool's `stop`; whoever frees memory or makes a model idle calls `notify`.
 */
import type { Logger } from "../observability/logger.ts";
import { type AdmissionLimits, type AdmissionPlan, planAdmission, type ResidentModel } from "./admission.ts";
import type { ProbeMemory } from "./memory-probe.ts";
import { isBusy, type LoadHistory, type LoadTarget, type ModelRef, type ModelRefs, replicaCountOf } from "./model-ref.ts";
import { type Clock, nowMilliseconds } from "../clock.ts";

const ESTIMATE_FACTOR = 1.5;
const MEBIBYTE = 1024 * 1024;

export interface CapacityOptions {
  refs: ModelRefs;
  clock: Clock;
  logger: Logger;
  probeMemory: ProbeMemory;
  limits: AdmissionLimits;
  /** Memory held outside any model that the budget must leave room for (standby workers). */
  reservedBytes?: () => number;
  /** The pool's one path for unloading a model. */
  stop: (ref: ModelRef) => Promise<void>;
}

export class Capacity {
  /** Callers waiting for memory; woken whenever a model goes idle, loads, or is stopped. */
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: CapacityOptions) {}

  /** What admitting a model of `incomingBytes` takes now: evictions, a wait, or never. */
  plan(incomingBytes: number): AdmissionPlan {
    return planAdmission(this.resident(), incomingBytes, this.options.limits, this.options.reservedBytes?.());
  }

  /** `memoryMb` per worker when configured, else the last measured footprint, else 1.5× the file per worker. */
  estimate(target: LoadTarget, history: LoadHistory): number {
    const replicas = replicaCountOf(target);
    if (target.config.memoryMb !== undefined) return target.config.memoryMb * MEBIBYTE * replicas;
    return history.measuredBytes ?? ESTIMATE_FACTOR * target.sizeBytes * replicas;
  }

  /** Measured RSS of the model's workers; the estimate for any that cannot be read. */
  footprint(ref: ModelRef): number {
    const perReplicaEstimate = ref.estimateBytes / Math.max(1, replicaCountOf(ref.target));
    return ref.replicas.reduce((total, replica) => total + (this.options.probeMemory(replica.worker.pid) ?? perReplicaEstimate), 0);
  }

  /** Unloads an idle model to make room for `incoming` (counted in its evictions). */
  evict(ref: ModelRef, incoming: Pick<LoadTarget, "name" | "version">): Promise<void> {
    ref.history.evictions++;
    this.options.logger.info(
      {
        event: "model_evicted",
        model: ref.target.name,
        version: ref.target.version,
        pids: ref.replicas.map((replica) => replica.worker.pid),
        for_model: incoming.name,
        for_version: incoming.version,
      },
      "idle model evicted to make room",
    );
    return this.options.stop(ref);
  }

  /** Evicts the models a plan names (they are idle and in the table: the plan was made from it). */
  evictAll(keys: readonly string[], incoming: Pick<LoadTarget, "name" | "version">): Promise<void>[] {
    return keys.map((key) => this.evict(this.options.refs.get(key)!, incoming));
  }

  /**
   * The estimate before load can be far off (a worker process costs more than its model file); once
   * measured, idle models are evicted until the budget holds again. Busy ones are left alone.
   */
  enforceBudgetAfterLoad(loaded: ModelRef): void {
    const others = this.resident().filter((model) => model.key !== loaded.key);
    const plan = planAdmission(others, this.footprint(loaded), this.options.limits, this.options.reservedBytes?.());
    if (plan.kind === "admit") {
      void this.evictAll(plan.evict, loaded.target);
    } else {
      this.options.logger.warn(
        { event: "over_memory_budget", model: loaded.target.name, version: loaded.target.version, reason: plan.reason },
        "loaded over the memory budget",
      );
    }
    this.notify();
  }

  /** Resolves on the next `notify`, or after `timeoutMilliseconds`. */
  waitForRoom(timeoutMilliseconds: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        this.waiters.delete(wake);
        cancel();
        resolve();
      };
      const cancel = this.options.clock.setTimer(wake, timeoutMilliseconds * 1000);
      this.waiters.add(wake);
    });
  }

  /** Wakes every waiting caller to plan again. */
  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** A model that just went idle may be what a waiting caller needs evicted. */
  notifyIfIdle(ref: ModelRef): void {
    if (this.waiters.size > 0 && !isBusy(ref)) this.notify();
  }

  /** Models holding memory, as admission sees them. */
  private resident(): ResidentModel[] {
    const now = nowMilliseconds(this.options.clock);
    const resident: ResidentModel[] = [];
    for (const ref of this.options.refs.values()) {
      if (ref.state === "unhealthy") continue;
      resident.push({
        key: ref.key,
        footprintBytes: ref.state === "ready" ? this.footprint(ref) : ref.estimateBytes,
        busy: isBusy(ref),
        lastUsedAtMilliseconds: (ref.history.lastUsedAt ?? ref.loadedAt)?.getTime() ?? now,
      });
    }
    return resident;
  }
}
