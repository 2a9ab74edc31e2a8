/**
 * Files that libraries read by path at run time, and where to find them: next to the sources when
 * run with `bun src/cli.ts`, inside the executable when run as the compiled `dist/modelmora`.
 *
 * scripts/build-binary.ts embeds every path of EMBEDDED_ASSETS under EMBEDDED_DIRECTORY, keeping
 * its relative path, so one table serves both: `assetPath(EMBEDDED_ASSETS.migrations)` is
 * `<repo>/drizzle` from source and `/$bunfs/root/embedded/drizzle` in the binary (Bun's read-only
 * embedded file system, readable with node:fs and Bun.file). Paths under node_modules/ assume
 * npm's hoisted layout; the build fails if one is missing.
 */
import path from "node:path";

/** Paths relative to the repository root. */
export const EMBEDDED_ASSETS = {
  /**
   * drizzle's migrators read meta/_journal.json and each <tag>.sql from drizzle/sqlite (the embedded
   * database, bun:sqlite, which is built into Bun) and drizzle/pg (PostgreSQL).
   */
  migrations: "drizzle",
  /** The project's .proto files, loaded by @grpc/proto-loader and described by reflection. */
  protos: "proto",
  /**
   * grpc-health-check loads health/v1/health.proto from here when it is imported, and
   * @grpc/reflection its reflection protos from the next one: both through `__dirname`, which the
   * build points into the embedded tree.
   */
  healthProtos: "node_modules/grpc-health-check/proto",
  reflectionProtos: "node_modules/@grpc/reflection/build/proto",
  /**
   * The onnxruntime shared library that onnxruntime_binding.node links against (the binding itself
   * is embedded by the bundler, which follows onnxruntime-node's require of it).
   */
  onnxruntimeLibrary: `node_modules/onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/libonnxruntime.so.1`,
  /**
   * sharp's native addon and the libvips it links against, for the image tasks' workers: copied out
   * and loaded by src/runtime/sharp-library.ts (the build points sharp's `require` of the addon there).
   */
  sharpAddon: `node_modules/@img/sharp-${process.platform}-${process.arch}/lib`,
  sharpLibvips: `node_modules/@img/sharp-libvips-${process.platform}-${process.arch}/lib`,
  /** What /swagger serves (src/api/rest/docs.ts): the Swagger UI files, so the docs work offline. */
  swaggerUiCss: "node_modules/swagger-ui-dist/swagger-ui.css",
  swaggerUiBundle: "node_modules/swagger-ui-dist/swagger-ui-bundle.js",
  swaggerUiPreset: "node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js",
  swaggerUiFavicon: "node_modules/swagger-ui-dist/favicon-32x32.png",
} as const;

/** The folder, at the root of the binary's embedded file system, that holds EMBEDDED_ASSETS. */
export const EMBEDDED_DIRECTORY = "embedded";

const REPOSITORY_ROOT = path.join(import.meta.dir, "..", "..");

/**
 * True in the compiled executable. There every module's `import.meta.dir` is the embedded file
 * system's root, where the assets were placed.
 */
export const RUNNING_FROM_BINARY: boolean = Bun.isStandaloneExecutable;

/** Absolute path of an asset listed in EMBEDDED_ASSETS, in the source tree or in the binary. */
export function assetPath(relativePath: string): string {
  return RUNNING_FROM_BINARY ? path.join(import.meta.dir, EMBEDDED_DIRECTORY, relativePath) : path.join(REPOSITORY_ROOT, relativePath);
}
