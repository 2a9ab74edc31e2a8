/**
 * `npm run build`: compiles src/binary.ts into the single executable dist/modelmora (Bun's
 * `bun build --compile`, called through Bun.build because the CLI cannot take the plugin below).
 *
 * What goes in, and how each piece is found at run time:
 * - all JavaScript, and onnxruntime_binding.node (the bundler follows onnxruntime-node's require of
 *   it; `process.platform`/`process.arch` are constants under --compile);
 * - every path of EMBEDDED_ASSETS (src/runtime/embedded-assets.ts), copied into a staging folder
 *   named EMBEDDED_DIRECTORY with its relative path kept, and embedded as one `compile.assets` tree
 *   (Bun keeps only the last component of an asset path, so the staging folder is what preserves
 *   node_modules/<package>/… and keeps the three `proto` folders apart);
 * - the plugin: Bun writes `__dirname` into the bundle as the build machine's source directory
 *   (oven-sh/bun#29066), and grpc-health-check and @grpc/reflection load their .proto files from
 *   `__dirname/../../proto`; in those two packages `__dirname` becomes the matching folder of the
 *   embedded tree;
 * - the second plugin: sharp's loader requires its native addon by package name
 *   (`@img/sharp-<platform>-<arch>/sharp.node`), which the bundler cannot embed with the libvips it
 *   links against; in the bundled loader that require becomes a call to loadEmbeddedSharpAddon
 *   (src/runtime/sharp-library.ts) naming the two files, which are embedded as assets.
 *
 * Usage: bun scripts/build-binary.ts [--outfile dist/modelmora]
 */
import { cp, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { BunPlugin } from "bun";
import { EMBEDDED_ASSETS, EMBEDDED_DIRECTORY } from "../src/runtime/embedded-assets.ts";

const REPOSITORY_ROOT = path.join(import.meta.dir, "..");
const ENTRY = path.join(REPOSITORY_ROOT, "src", "binary.ts");

/** Packages that read files relative to `__dirname`, and only at paths that EMBEDDED_ASSETS embeds. */
const DIRNAME_PACKAGES = /[\\/]node_modules[\\/](grpc-health-check|@grpc[\\/]reflection)[\\/]build[\\/]src[\\/].*\.js$/;

const embeddedDirnamePlugin: BunPlugin = {
  name: "modelmora-embedded-dirname",
  setup(build) {
    build.onLoad({ filter: DIRNAME_PACKAGES }, async ({ path: file }) => {
      const directory = path.relative(REPOSITORY_ROOT, path.dirname(file)).split(path.sep).join("/");
      const embedded = JSON.stringify(`/${EMBEDDED_DIRECTORY}/${directory}`);
      const source = await Bun.file(file).text();
      // In the binary every module's import.meta.dir is the embedded file system's root.
      return { contents: source.replace(/\b__dirname\b/g, `(import.meta.dir + ${embedded})`), loader: "js" };
    });
  },
};

const SHARP_LOADER = /[\\/]node_modules[\\/]sharp[\\/]dist[\\/]sharp\.(mjs|cjs)$/;
const SHARP_REQUIRE = `require("@img/sharp-${process.platform}-${process.arch}/sharp.node")`;
const SHARP_LIBRARY = path.join(REPOSITORY_ROOT, "src", "runtime", "sharp-library.ts");

/** The one file in `directory` (relative to the repository root) whose name matches `pattern`. */
async function onlyFile(directory: string, pattern: RegExp): Promise<string> {
  const names = (await readdir(path.join(REPOSITORY_ROOT, directory))).filter((name) => pattern.test(name));
  if (names.length !== 1) throw new Error(`expected one file matching ${pattern} in ${directory}, found ${names.length}: run npm ci first`);
  return `${directory}/${names[0]}`;
}

const embeddedSharpPlugin: BunPlugin = {
  name: "modelmora-embedded-sharp",
  setup(build) {
    build.onLoad({ filter: SHARP_LOADER }, async ({ path: file }) => {
      const files = {
        addon: await onlyFile(EMBEDDED_ASSETS.sharpAddon, /\.node$/),
        libvips: await onlyFile(EMBEDDED_ASSETS.sharpLibvips, /^libvips-cpp\.so/),
      };
      const source = await Bun.file(file).text();
      if (!source.includes(SHARP_REQUIRE)) throw new Error(`${file} no longer contains ${SHARP_REQUIRE}: update the embedded-sharp plugin for this sharp version`);
      const call = `loadEmbeddedSharpAddon(${JSON.stringify(files)})`;
      const load = file.endsWith(".mjs")
        ? `import { loadEmbeddedSharpAddon } from ${JSON.stringify(SHARP_LIBRARY)};\n`
        : `const { loadEmbeddedSharpAddon } = require(${JSON.stringify(SHARP_LIBRARY)});\n`;
      return { contents: load + source.replace(SHARP_REQUIRE, call), loader: "js" };
    });
  },
};

async function stageAssets(staging: string): Promise<void> {
  for (const relativePath of Object.values(EMBEDDED_ASSETS)) {
    const source = path.join(REPOSITORY_ROOT, relativePath);
    try {
      await stat(source);
    } catch {
      throw new Error(`${relativePath} is missing: run npm ci first (the binary embeds it; see src/runtime/embedded-assets.ts)`);
    }
    await cp(source, path.join(staging, relativePath), { recursive: true });
  }
}

async function build(outfile: string): Promise<void> {
  if (process.platform !== "linux") throw new Error(`the binary build supports Linux only (onnxruntime's library is libonnxruntime.so.1 there); this is ${process.platform}`);
  const startedAt = performance.now();
  const stagingRoot = await mkdtemp(path.join(os.tmpdir(), "modelmora-build-"));
  try {
    const staging = path.join(stagingRoot, EMBEDDED_DIRECTORY);
    await stageAssets(staging);
    const result = await Bun.build({
      entrypoints: [ENTRY],
      root: REPOSITORY_ROOT,
      target: "bun",
      // Precompiled bytecode: a worker (this same binary) starts and loads a model in about half the
      // time of plain source (0.12 s against 0.25 s for the add fixture, measured by hand), for
      // ~8 MiB more and ~1.5 s more build. ESM keeps the entry's top-level await.
      bytecode: true,
      format: "esm",
      plugins: [embeddedDirnamePlugin, embeddedSharpPlugin],
      // A bunfig.toml in the directory the binary runs from must not change how it runs.
      compile: { outfile, assets: [staging], autoloadBunfig: false },
    });
    if (!result.success) {
      for (const log of result.logs) console.error(log);
      throw new Error("bun build --compile failed");
    }
  } finally {
    await rm(stagingRoot, { recursive: true, force: true });
  }
  const { size } = await stat(outfile);
  const seconds = (performance.now() - startedAt) / 1000;
  console.log(`built ${path.relative(process.cwd(), outfile) || outfile}: ${(size / 1024 / 1024).toFixed(1)} MiB in ${seconds.toFixed(1)} s`);
}

const outfileFlag = process.argv.indexOf("--outfile");
const outfile = path.resolve(outfileFlag >= 0 ? process.argv[outfileFlag + 1]! : path.join(REPOSITORY_ROOT, "dist", "modelmora"));
await build(outfile);
