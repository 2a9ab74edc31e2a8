/**
 * Pins that the deployment files in deploy/ agree with the server they deploy: ports, health paths,
 * environment variable names, shutdown grace, the database Secret, and a non-root image that runs
 * `serve`. No Docker engine or cluster runs here, so the files are parsed and cross-checked.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { DEFAULT_CONFIG, environmentOverrides, resolveConfig } from "../../src/config.ts";
import { ApiKeys } from "../../src/security/api-keys.ts";
import { assertListenAllowed } from "../../src/security/listen-guard.ts";
import { WORKER_ALLOCATOR_DEFAULTS } from "../../src/lifecycle/worker-environment.ts";

const ROOT = path.resolve(import.meta.dir, "../..");
const DEPLOY = path.join(ROOT, "deploy");
const K8S = path.join(DEPLOY, "k8s");

// ---- reading the files ---------------------------------------------------------------------------

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; [key: string]: unknown }; [key: string]: any };

/** Every YAML document in a file (Bun.YAML.parse answers an array for a multi-document stream). */
function documentsOf(text: string): unknown[] {
  const parsed = Bun.YAML.parse(text);
  const documents = text.split("\n").some((line) => line.startsWith("---")) && Array.isArray(parsed) ? parsed : [parsed];
  return documents.filter((document) => document !== null && document !== undefined);
}

const yamlFiles = [...new Bun.Glob("**/*.yaml").scanSync({ cwd: K8S })].sort();
const parsedFiles = yamlFiles.map((file) => ({ file, documents: documentsOf(readFileSync(path.join(K8S, file), "utf8")) as Manifest[] }));
const resources = parsedFiles.flatMap(({ file, documents }) => documents.filter((d) => d.kind !== "Kustomization").map((manifest) => ({ file, manifest })));

function one(kind: string): Manifest {
  const found = resources.filter(({ manifest }) => manifest.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} under deploy/k8s, found ${found.length}`);
  return found[0]!.manifest;
}

const deployment = one("Deployment");
const configMap = one("ConfigMap");
const secret = one("Secret");
const service = one("Service");
const claim = one("PersistentVolumeClaim");
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers.find((c: { name: string }) => c.name === "modelmora");

function containerPort(name: string): number {
  const port = container.ports.find((p: { name: string }) => p.name === name);
  expect(port).toBeDefined();
  return port.containerPort;
}

/** "4Gi", "512Mi", "1G" → MiB. */
function mebibytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(quantity);
  if (!match) throw new Error(`unreadable quantity ${quantity}`);
  const factor: Record<string, number> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 ** 2, K: 1e3 / 2 ** 20, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20, T: 1e12 / 2 ** 20 };
  return Number(match[1]) * (match[2] ? factor[match[2]]! : 1 / 2 ** 20);
}

/**
 * Every environment variable the server reads: the names src/config.ts maps to settings (a quoted
 * name in src/ that `environmentOverrides` itself accepts) and the ones read directly
 * (`process.env.NAME`, `environment.NAME`) anywhere in src/.
 */
function serverEnvironmentNames(): Set<string> {
  // Bun's allocator settings: read by the runtime itself, given to every worker by default
  // (WORKER_ALLOCATOR_DEFAULTS) and to the server by the Dockerfile and `npm start`.
  const names = new Set<string>(Object.keys(WORKER_ALLOCATOR_DEFAULTS));
  for (const file of new Bun.Glob("**/*.ts").scanSync({ cwd: path.join(ROOT, "src") })) {
    const text = readFileSync(path.join(ROOT, "src", file), "utf8");
    for (const [, name] of text.matchAll(/["'`]([A-Z][A-Z0-9_]*)["'`]/g)) {
      if (Object.keys(environmentOverrides({ [name!]: "1" })).length === 1) names.add(name!);
    }
    for (const [, name] of text.matchAll(/\b(?:env|environment)(?:\.|\[["'])([A-Z][A-Z0-9_]*)/g)) names.add(name!);
  }
  return names;
}

// ---- Dockerfile ----------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  argument: string;
  stage: number;
}

/** Instructions with continuation lines joined and comments dropped; `stage` counts FROMs from 0. */
function dockerfileInstructions(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = "";
  let stage = -1;
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue; // also inside a continued instruction, as Docker does
    const continued = /\\\s*$/.test(line);
    pending += (pending ? " " : "") + line.replace(/\\\s*$/, "").trim();
    if (continued) continue;
    if (pending.trim() !== "") {
      const [, keyword, argument] = /^(\S+)\s*(.*)$/.exec(pending.trim())!;
      if (keyword!.toUpperCase() === "FROM") stage++;
      instructions.push({ keyword: keyword!.toUpperCase(), argument: argument!.trim(), stage });
    }
    pending = "";
  }
  return instructions;
}

/** ["a", "b"] (exec form) or a b (shell form) → words. */
function commandWords(argument: string): string[] {
  return argument.startsWith("[") ? (JSON.parse(argument) as string[]) : argument.split(/\s+/);
}

const dockerfile = dockerfileInstructions(readFileSync(path.join(DEPLOY, "Dockerfile"), "utf8"));
const runtimeStage = Math.max(...dockerfile.map((i) => i.stage));
const runtime = dockerfile.filter((i) => i.stage === runtimeStage);
const last = (keyword: string) => runtime.filter((i) => i.keyword === keyword).at(-1);

/** ENV a=b c=d (and the legacy ENV a b) → entries. */
function dockerEnvironment(): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const { argument } of runtime.filter((i) => i.keyword === "ENV")) {
    if (!argument.includes("=")) {
      const [name, ...value] = argument.split(/\s+/);
      environment[name!] = value.join(" ");
      continue;
    }
    for (const match of argument.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) environment[match[1]!] = match[2]!.replace(/^"|"$/g, "");
  }
  return environment;
}

// ---- tests ---------------------------------------------------------------------------------------

const KNOWN_KINDS: Record<string, string[]> = {
  v1: ["Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service"],
  "apps/v1": ["Deployment"],
  "policy/v1": ["PodDisruptionBudget"],
  "kustomize.config.k8s.io/v1beta1": ["Kustomization"],
  "keda.sh/v1alpha1": ["ScaledObject"],
};

describe("Kubernetes manifests", () => {
  test("every YAML file parses, and every document has a known apiVersion and kind", () => {
    expect(yamlFiles).toContain("kustomization.yaml");
    for (const { file, documents } of parsedFiles) {
      expect(documents.length, file).toBeGreaterThan(0);
      for (const document of documents) {
        expect(KNOWN_KINDS[document.apiVersion], `${file}: apiVersion ${document.apiVersion}`).toBeDefined();
        expect(KNOWN_KINDS[document.apiVersion], `${file}: kind ${document.kind}`).toContain(document.kind);
        if (document.kind !== "Kustomization") expect(document.metadata?.name, file).toBeString();
      }
    }
  });

  test("every kustomization's resources exist, and every manifest file is listed by one", () => {
    const listed = new Set<string>();
    for (const { file, documents } of parsedFiles) {
      for (const kustomization of documents.filter((d) => d.kind === "Kustomization")) {
        for (const resource of kustomization.resources as string[]) {
          const target = path.join(K8S, path.dirname(file), resource);
          const isDirectory = statSync(target, { throwIfNoEntry: false })?.isDirectory();
          if (isDirectory) expect(statSync(path.join(target, "kustomization.yaml"), { throwIfNoEntry: false }), `${file}: ${resource}`).toBeDefined();
          else {
            expect(statSync(target, { throwIfNoEntry: false }), `${file}: ${resource}`).toBeDefined();
            listed.add(path.relative(K8S, target));
          }
        }
      }
    }
    expect([...listed].sort()).toEqual([...new Set(resources.map(({ file }) => file))].sort());
  });

  test("container ports are the server's default HTTP and gRPC ports, and the ConfigMap sets the same", () => {
    expect(containerPort("http")).toBe(DEFAULT_CONFIG.httpPort);
    expect(containerPort("grpc")).toBe(DEFAULT_CONFIG.grpcPort);
    // The settings the pod gets resolve (no ConfigError) to what the pod spec assumes.
    const config = resolveConfig(environmentOverrides({ ...configMap.data, DATABASE_URL: secret.stringData.DATABASE_URL }));
    expect(config.httpPort).toBe(containerPort("http"));
    expect(config.grpcPort).toBe(containerPort("grpc"));
    expect(config.host).toBe("0.0.0.0");
    expect(config.databaseUrl).toStartWith("postgres");
    const dataMount = container.volumeMounts.find((mount: { name: string }) => mount.name === "data");
    expect(config.dataDir).toBe(dataMount.mountPath);
  });

  test("probes ask /health/live and /health/ready on the http port, which the server serves", () => {
    const health = readFileSync(path.join(ROOT, "src/api/rest/health.ts"), "utf8");
    expect(health).toContain('prefix: "/health"');
    expect(health).toContain('.get("/live"');
    expect(health).toContain('"/ready"');
    expect(container.livenessProbe.httpGet).toEqual({ path: "/health/live", port: "http" });
    expect(container.readinessProbe.httpGet).toEqual({ path: "/health/ready", port: "http" });
    if (container.startupProbe) expect(container.startupProbe.httpGet).toEqual({ path: "/health/live", port: "http" });
  });

  test("the Service exposes http and grpc on the container's ports, and selects the Deployment's pods", () => {
    const ports = Object.fromEntries(service.spec.ports.map((p: { name: string }) => [p.name, p]));
    expect(Object.keys(ports).sort()).toEqual(["grpc", "http"]);
    for (const name of ["http", "grpc"]) {
      expect(ports[name].port).toBe(containerPort(name));
      expect([name, containerPort(name)]).toContain(ports[name].targetPort);
    }
    const podLabels = deployment.spec.template.metadata.labels;
    expect(podLabels).toMatchObject(service.spec.selector);
    expect(podLabels).toMatchObject(deployment.spec.selector.matchLabels);
  });

  test("every environment variable given to the container is one the server reads", () => {
    const known = serverEnvironmentNames();
    expect(known).toContain("MODELMORA_PORT");
    expect(known).toContain("DATABASE_URL");
    const given = [...Object.keys(configMap.data), ...(container.env ?? []).map((e: { name: string }) => e.name)];
    for (const name of given) expect(known, name).toContain(name);
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }]);
  });

  test("DATABASE_URL comes from the Secret, never from the ConfigMap or a literal value", () => {
    expect(configMap.data).not.toHaveProperty("DATABASE_URL");
    const variable = container.env.find((e: { name: string }) => e.name === "DATABASE_URL");
    expect(variable.value).toBeUndefined();
    expect(variable.valueFrom.secretKeyRef).toEqual({ name: secret.metadata.name, key: "DATABASE_URL" });
    expect(Object.keys(secret.stringData ?? secret.data)).toContain("DATABASE_URL");
  });

  test("listening on the pod's address, the container gets API keys from the Secret (the server refuses to start without)", () => {
    const config = resolveConfig(environmentOverrides({ ...configMap.data, DATABASE_URL: secret.stringData.DATABASE_URL, MODELMORA_API_KEYS: secret.stringData.MODELMORA_API_KEYS }));
    expect(() => assertListenAllowed(config, ApiKeys.from(config).enabled)).not.toThrow();
    expect(configMap.data).not.toHaveProperty("MODELMORA_API_KEYS");
    const variable = container.env.find((e: { name: string }) => e.name === "MODELMORA_API_KEYS");
    expect(variable.valueFrom.secretKeyRef).toEqual({ name: secret.metadata.name, key: "MODELMORA_API_KEYS" });
    // Without the Secret's keys the same settings are refused.
    const withoutKeys = resolveConfig(environmentOverrides({ ...configMap.data }));
    expect(() => assertListenAllowed(withoutKeys, false)).toThrow(/MODELMORA_API_KEYS/);
  });

  test("termination grace outlasts the server's shutdown grace plus the preStop pause", () => {
    const shutdownGraceSeconds = Number(configMap.data.MODELMORA_SHUTDOWN_GRACE_SECONDS ?? DEFAULT_CONFIG.shutdownGraceSeconds);
    expect(shutdownGraceSeconds).toBeGreaterThanOrEqual(DEFAULT_CONFIG.shutdownGraceSeconds);
    const preStop: string[] = container.lifecycle?.preStop?.exec?.command ?? [];
    const pauseSeconds = preStop.at(-2)?.endsWith("sleep") ? Number(preStop.at(-1)) : 0;
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(DEFAULT_CONFIG.shutdownGraceSeconds);
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(shutdownGraceSeconds + pauseSeconds);
  });

  test("pods run as the image's non-root user, and /data is the model cache claim", () => {
    expect(podSpec.securityContext.runAsNonRoot).toBe(true);
    expect(podSpec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    const dockerUser = last("USER")!.argument.split(":")[0];
    expect(Number(dockerUser)).toBe(podSpec.securityContext.runAsUser);
    const data = podSpec.volumes.find((v: { name: string }) => v.name === "data");
    expect(data.persistentVolumeClaim.claimName).toBe(claim.metadata.name);
    // With a read-only root file system, temporary files need a volume of their own.
    if (container.securityContext.readOnlyRootFilesystem) {
      expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain("/tmp");
    }
  });

  test("several replicas share the claim only when it is ReadWriteMany", () => {
    if (deployment.spec.replicas > 1) expect(claim.spec.accessModes).toContain("ReadWriteMany");
  });

  test("deploy/k8s gives each replica its own cache volume (fetch-on-miss refills it) and drops the shared claim", () => {
    const root = parsedFiles.find(({ file }) => file === "kustomization.yaml")!.documents[0]!;
    expect(root.resources).toEqual(["base"]);
    const [volumePatch, claimPatch] = root.patches as { target?: { kind: string; name: string }; patch: string }[];
    expect(volumePatch!.target).toEqual({ kind: "Deployment", name: deployment.metadata.name });
    const [operation] = Bun.YAML.parse(volumePatch!.patch) as { op: string; path: string; value: { name: string; emptyDir?: object } }[];
    // Index 0 of the base's volumes is the data volume this replaces.
    expect(podSpec.volumes[0].name).toBe("data");
    expect(operation).toMatchObject({ op: "replace", path: "/spec/template/spec/volumes/0", value: { name: "data", emptyDir: {} } });
    expect(Bun.YAML.parse(claimPatch!.patch)).toMatchObject({ $patch: "delete", kind: "PersistentVolumeClaim", metadata: { name: claim.metadata.name } });
    // Fetch-on-miss is what makes a per-pod cache work: the registry refetches what a replica lacks.
    expect(readFileSync(path.join(ROOT, "src/registry/registry.ts"), "utf8")).toContain("this.cache.ensure(versionRow.source, versionRow.sha256)");
  });

  test("the autoscaling example scales the Deployment on the job queue gauge the server exports", () => {
    const scaled = one("ScaledObject");
    expect(scaled.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(scaled.spec.maxReplicaCount).toBeGreaterThanOrEqual(scaled.spec.minReplicaCount);
    const [trigger] = scaled.spec.triggers;
    expect(trigger.type).toBe("prometheus");
    const metric = /\b(modelmora_[a-z_]+)\b/.exec(trigger.metadata.query)![1]!;
    expect(readFileSync(path.join(ROOT, "src/observability/job-metrics.ts"), "utf8")).toContain(`name: "${metric}"`);
    expect(Number(trigger.metadata.threshold)).toBeGreaterThan(0);
  });

  test("the worker memory budget stays below the container's memory limit", () => {
    const limitMb = mebibytes(container.resources.limits.memory);
    expect(Number(configMap.data.MODELMORA_MEMORY_LIMIT_MB)).toBeLessThan(limitMb);
  });
});

describe("Dockerfile", () => {
  test("is multi-stage: npm ci and npm run build in a build stage, the runtime copies only dist/modelmora", () => {
    expect(runtimeStage).toBeGreaterThanOrEqual(1);
    const buildRuns = dockerfile.filter((i) => i.stage < runtimeStage && i.keyword === "RUN").map((i) => i.argument).join(" && ");
    expect(buildRuns).toContain("npm ci");
    expect(buildRuns).toContain("npm run build");
    const copies = runtime.filter((i) => i.keyword === "COPY");
    expect(copies).toHaveLength(1);
    expect(copies[0]!.argument).toMatch(/^--from=\S+ \S*dist\/modelmora \/usr\/local\/bin\/modelmora$/);
  });

  test("EXPOSEs the server's default HTTP and gRPC ports", () => {
    const exposed = runtime.filter((i) => i.keyword === "EXPOSE").flatMap((i) => i.argument.split(/\s+/)).map((p) => Number(p.replace(/\/tcp$/, "")));
    expect(exposed.sort()).toEqual([DEFAULT_CONFIG.httpPort, DEFAULT_CONFIG.grpcPort].sort());
  });

  test("sets only variables the server reads, listening on every interface with data under the /data volume", () => {
    const environment = dockerEnvironment();
    const known = serverEnvironmentNames();
    for (const name of Object.keys(environment)) expect(known, name).toContain(name);
    const config = resolveConfig(environmentOverrides(environment));
    expect(config.host).toBe("0.0.0.0");
    expect(config.httpPort).toBe(DEFAULT_CONFIG.httpPort);
    expect(config.grpcPort).toBe(DEFAULT_CONFIG.grpcPort);
    expect(config.dataDir).toBe("/data");
    expect(commandWords(last("VOLUME")!.argument)).toContain("/data");
  });

  test("bakes no API keys or unauthenticated switch into the image", () => {
    const environment = dockerEnvironment();
    expect(environment).not.toHaveProperty("MODELMORA_API_KEYS");
    expect(environment).not.toHaveProperty("MODELMORA_ALLOW_UNAUTHENTICATED");
  });

  test("runs as a non-root user", () => {
    const user = last("USER");
    expect(user).toBeDefined();
    const [name] = user!.argument.split(":");
    expect(["root", "0"]).not.toContain(name);
  });

  test("has a HEALTHCHECK that asks the server's HTTP port", () => {
    const healthcheck = last("HEALTHCHECK");
    expect(healthcheck).toBeDefined();
    expect(healthcheck!.argument).not.toMatch(/^NONE/i);
    const command = commandWords(healthcheck!.argument.slice(healthcheck!.argument.indexOf("CMD") + 3).trim());
    expect(command).toContain(`http://127.0.0.1:${DEFAULT_CONFIG.httpPort}`);
  });

  test("ENTRYPOINT and CMD together run the binary's serve command", () => {
    const words = [...commandWords(last("ENTRYPOINT")!.argument), ...commandWords(last("CMD")?.argument ?? "[]")];
    const binary = words.findIndex((word) => word.endsWith("/modelmora"));
    expect(binary).toBeGreaterThanOrEqual(0);
    expect(words[binary + 1]).toBe("serve");
  });

  test("its .dockerignore keeps the host's node_modules and dist out of the build", () => {
    const ignored = readFileSync(path.join(DEPLOY, "Dockerfile.dockerignore"), "utf8").split("\n").map((line) => line.trim());
    expect(ignored).toContain("**/node_modules");
    expect(ignored).toContain("dist");
  });
});
