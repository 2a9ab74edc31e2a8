/**
 * `bun bench/embedded-db.ts [--repetitions 3] [--idle-seconds 5] [--only server|options]`: what the
 * registry database costs a process (issue 12, "lean embedded default").
 *
 * - **server**: `bun src/cli.ts serve` on an empty data directory (first start: spawn → listening
 *   line), started again on that directory (restart), and its RSS after `--idle-seconds` idle; with
 *   the embedded default, and with PostgreSQL when `DATABASE_URL` is set (a fresh database per run).
 * - **options**: one fresh process per measurement that opens the database, applies the migrations and
 *   runs a few registry queries: PGlite as shipped before, PGlite with small settings
 *   (SMALL_PGLITE_PARAMETERS, relaxed durability), PGlite loaded from a pre-initialised data-directory
 *   tarball instead of running initdb, both together, and bun:sqlite (the embedded default); first open
 *   on an empty directory and reopen. Open time, peak RSS (VmHWM) and RSS settled after 2 s and a GC.
 *
 * Each figure is the median of the repetitions. Tables go to stdout, progress to stderr.
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { Children } from "./lib/processes.ts";
import { describeMachine, gitDescription, machineLine, markdownTable, significant } from "./lib/report.ts";

const ROOT = path.join(import.meta.dir, "..");
const CHILD_FLAG = "--child";

type OptionVariant = "pglite" | "pglite-small" | "pglite-tarball" | "pglite-small-tarball" | "sqlite";
const OPTION_VARIANTS: readonly OptionVariant[] = ["pglite", "pglite-small", "pglite-tarball", "pglite-small-tarball", "sqlite"];
const usesTarball = (variant: OptionVariant) => variant.endsWith("-tarball");
const usesSmallSettings = (variant: OptionVariant) => variant.startsWith("pglite-small");

interface ChildResult {
  openMilliseconds: number;
  peakRssMb: number;
  settledRssMb: number;
}

async function rssOf(pid: number | "self"): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kilobytes = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { rssMb: kilobytes("VmRSS") / 1024, peakMb: kilobytes("VmHWM") / 1024 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

// ---- child: one open of one option --------------------------------------------------------------

/** PGlite settings that trade memory for nothing the registry needs (tiny tables, one session). */
const SMALL_PGLITE_PARAMETERS = ["-c", "shared_buffers=16MB", "-c", "work_mem=1MB", "-c", "maintenance_work_mem=1MB", "-c", "temp_buffers=1MB", "-c", "wal_buffers=64kB"];

async function openOption(variant: OptionVariant, dataDir: string, tarball: string | undefined): Promise<() => Promise<void>> {
  if (variant === "sqlite") {
    const { openDatabase } = await import("../src/registry/database.ts");
    const database = await openDatabase({ dataDir });
    await exerciseRegistry(database.db, database.tables);
    return () => database.close();
  }
  const [{ PGlite }, { drizzle }, { migrate }, pg] = await Promise.all([
    import("@electric-sql/pglite"),
    import("drizzle-orm/pglite"),
    import("drizzle-orm/pglite/migrator"),
    import("../src/registry/schema/pg.ts"),
  ]);
  const directory = path.join(dataDir, "pgdata");
  await mkdir(directory, { recursive: true });
  const client = new PGlite(directory, {
    ...(usesSmallSettings(variant) ? { relaxedDurability: true, startParams: [...PGlite.defaultStartParams, ...SMALL_PGLITE_PARAMETERS] } : {}),
    ...(usesTarball(variant) && tarball ? { loadDataDir: Bun.file(tarball) } : {}),
  });
  const db = drizzle(client, { schema: pg });
  await migrate(db, { migrationsFolder: path.join(ROOT, "drizzle", "pg") });
  await exerciseRegistry(db as never, pg as never);
  return () => client.close();
}

/** A registration's worth of writes, then the reads a server does for list, get and resolve. */
async function exerciseRegistry(db: import("../src/registry/database.ts").Database, tables: import("../src/registry/database.ts").Tables): Promise<void> {
  const { eq } = await import("drizzle-orm");
  const name = `bench-${process.pid}`;
  const signature = [{ name: "x", datatype: "FP32", shape: [-1, 4] }];
  await db.insert(tables.models).values({ name, task: "tensor", activeVersion: "1", config: {} }).onConflictDoNothing();
  await db.insert(tables.modelVersions).values({ modelName: name, version: "1", source: "/dev/null", sha256: "0".repeat(64), sizeBytes: 1, localPath: "/dev/null", inputs: signature as never, outputs: signature as never });
  await db.select().from(tables.models);
  await db.select().from(tables.modelVersions).where(eq(tables.modelVersions.modelName, name));
  await db.update(tables.models).set({ config: { maxBatchSize: 4 }, updatedAt: new Date() }).where(eq(tables.models.name, name));
}

async function runChild(variant: OptionVariant, dataDir: string, tarball: string | undefined): Promise<void> {
  const startedAt = performance.now();
  const close = await openOption(variant, dataDir, tarball);
  const openMilliseconds = performance.now() - startedAt;
  await Bun.sleep(2000);
  Bun.gc(true);
  const { rssMb, peakMb } = await rssOf("self");
  await close();
  const result: ChildResult = { openMilliseconds, peakRssMb: peakMb, settledRssMb: rssMb };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---- parent --------------------------------------------------------------------------------------

async function child(variant: OptionVariant, dataDir: string, tarball?: string): Promise<ChildResult> {
  const run = Bun.spawn({ cmd: [process.execPath, import.meta.path, CHILD_FLAG, variant, dataDir, ...(tarball ? [tarball] : [])], stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text(), run.exited]);
  if (exitCode !== 0) throw new Error(`${variant} child exited ${exitCode}: ${stderr.slice(-2000)}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildResult;
}

/** A migrated PGlite data directory as a gzipped tarball: what a package could ship instead of initdb. */
async function makeTarball(directory: string): Promise<string> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { drizzle } = await import("drizzle-orm/pglite");
  const { migrate } = await import("drizzle-orm/pglite/migrator");
  const client = new PGlite(path.join(directory, "template"));
  await migrate(drizzle(client), { migrationsFolder: path.join(ROOT, "drizzle", "pg") });
  const tarball = path.join(directory, "pgdata.tar.gz");
  await Bun.write(tarball, await client.dumpDataDir("gzip"));
  await client.close();
  return tarball;
}

async function measureOptions(repetitions: number, scratch: string): Promise<void> {
  const tarball = await makeTarball(scratch);
  process.stderr.write(`pre-initialised PGlite tarball: ${(Bun.file(tarball).size / 1024 / 1024).toFixed(1)} MiB\n`);
  const rows: string[][] = [];
  for (const variant of OPTION_VARIANTS) {
    const first: ChildResult[] = [];
    const reopen: ChildResult[] = [];
    for (let repetition = 0; repetition < repetitions; repetition++) {
      const dataDir = path.join(scratch, `${variant}-${repetition}`);
      first.push(await child(variant, dataDir, usesTarball(variant) ? tarball : undefined));
      reopen.push(await child(variant, dataDir));
      process.stderr.write(`${variant} #${repetition + 1}: first ${JSON.stringify(first.at(-1))}, reopen ${JSON.stringify(reopen.at(-1))}\n`);
    }
    const cell = (results: ChildResult[], key: keyof ChildResult) => significant(median(results.map((result) => result[key])));
    rows.push([variant, cell(first, "openMilliseconds"), cell(first, "peakRssMb"), cell(first, "settledRssMb"), cell(reopen, "openMilliseconds"), cell(reopen, "peakRssMb"), cell(reopen, "settledRssMb")]);
  }
  console.log(`\n### Embedded database options (median of ${repetitions}; one process per open)\n`);
  console.log(markdownTable(["option", "first open ms", "first peak MB", "first settled MB", "reopen ms", "reopen peak MB", "reopen settled MB"], rows));
}

interface ServerRun {
  firstStartSeconds: number;
  restartSeconds: number;
  idleRssMb: number;
  firstPeakMb: number;
}

async function serverRun(children: Children, dataDir: string, databaseUrl: string | undefined, idleSeconds: number): Promise<ServerRun> {
  const cli = path.join(ROOT, "src", "cli.ts");
  const cmd = [process.execPath, cli, "serve", "--host", "127.0.0.1", "--port", "0", "--grpc-port", "0", "--data-dir", dataDir];
  // Children merges these into process.env, from which measureServer removed DATABASE_URL.
  const env: Record<string, string> = databaseUrl ? { DATABASE_URL: databaseUrl } : {};
  const start = async () => {
    const startedAt = performance.now();
    const server = await children.startServer("ModelMora", cmd, { env, timeoutMilliseconds: 60_000 });
    return { server, seconds: (performance.now() - startedAt) / 1000 };
  };
  const first = await start();
  const firstPeakMb = (await rssOf(first.server.process.pid)).peakMb;
  first.server.process.kill("SIGTERM");
  await first.server.process.exited;
  const again = await start();
  await Bun.sleep(idleSeconds * 1000);
  const { rssMb } = await rssOf(again.server.process.pid);
  again.server.process.kill("SIGTERM");
  await again.server.process.exited;
  return { firstStartSeconds: first.seconds, restartSeconds: again.seconds, idleRssMb: rssMb, firstPeakMb };
}

async function measureServer(repetitions: number, idleSeconds: number, scratch: string): Promise<void> {
  const children = new Children();
  const adminUrl = process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
  const rows: string[][] = [];
  try {
    for (const kind of ["embedded", ...(adminUrl ? ["postgres"] : [])] as const) {
      const runs: ServerRun[] = [];
      for (let repetition = 0; repetition < repetitions; repetition++) {
        const dataDir = path.join(scratch, `server-${kind}-${repetition}`);
        let databaseUrl: string | undefined;
        let drop = async () => {};
        if (kind === "postgres") {
          const name = `modelmora_bench_${crypto.randomUUID().replaceAll("-", "")}`;
          const admin = postgres(adminUrl!, { max: 1, onnotice: () => undefined });
          await admin.unsafe(`create database ${name}`);
          const url = new URL(adminUrl!);
          url.pathname = `/${name}`;
          databaseUrl = url.toString();
          drop = async () => {
            await admin.unsafe(`drop database if exists ${name} with (force)`);
            await admin.end({ timeout: 5 });
          };
        }
        try {
          runs.push(await serverRun(children, dataDir, databaseUrl, idleSeconds));
        } finally {
          await drop();
        }
        process.stderr.write(`server ${kind} #${repetition + 1}: ${JSON.stringify(runs.at(-1))}\n`);
      }
      const cell = (key: keyof ServerRun) => significant(median(runs.map((run) => run[key])));
      rows.push([kind, cell("firstStartSeconds"), cell("firstPeakMb"), cell("restartSeconds"), cell("idleRssMb")]);
    }
  } finally {
    await children.stopAll();
  }
  console.log(`\n### Server (median of ${repetitions}; idle RSS after ${idleSeconds} s)\n`);
  console.log(markdownTable(["database", "first start s", "first-start peak RSS MB", "restart s", "idle RSS MB"], rows));
}

function flag(args: string[], name: string, fallback: string): string {
  const index = args.indexOf(name);
  return index >= 0 && args[index + 1] !== undefined ? args[index + 1]! : fallback;
}

const args = process.argv.slice(2);
if (args[0] === CHILD_FLAG) {
  await runChild(args[1] as OptionVariant, args[2]!, args[3]);
} else {
  const repetitions = Number(flag(args, "--repetitions", "3"));
  const idleSeconds = Number(flag(args, "--idle-seconds", "5"));
  const only = flag(args, "--only", "");
  const scratch = await mkdtemp(path.join(os.tmpdir(), "modelmora-bench-db-"));
  try {
    console.log(`${machineLine(describeMachine())} · ${gitDescription()}`);
    if (only !== "options") await measureServer(repetitions, idleSeconds, scratch);
    if (only !== "server") await measureOptions(repetitions, scratch);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
