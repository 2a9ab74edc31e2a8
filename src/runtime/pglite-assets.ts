/**
 * PGlite's WebAssembly modules and file-system bundle for the compiled binary. From source PGlite
 * finds them itself next to its own module (`new URL("./pglite.wasm", import.meta.url)`); inside
 * the binary that URL points nowhere, so the embedded copies are handed to it as constructor
 * options. Compiling here costs what PGlite's own loading costs.
 */
import type { PGliteOptions } from "@electric-sql/pglite";
import { EMBEDDED_ASSETS, RUNNING_FROM_BINARY, assetPath } from "./embedded-assets.ts";

export type PgliteAssetOptions = Pick<PGliteOptions, "pgliteWasmModule" | "initdbWasmModule" | "fsBundle">;

/** `{}` from source; the embedded modules and bundle in the binary. */
export async function embeddedPgliteOptions(): Promise<PgliteAssetOptions> {
  if (!RUNNING_FROM_BINARY) return {};
  const compile = async (relativePath: string) => WebAssembly.compile(await Bun.file(assetPath(relativePath)).arrayBuffer());
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all([compile(EMBEDDED_ASSETS.pgliteWasm), compile(EMBEDDED_ASSETS.initdbWasm)]);
  return { pgliteWasmModule, initdbWasmModule, fsBundle: Bun.file(assetPath(EMBEDDED_ASSETS.pgliteData)) };
}
