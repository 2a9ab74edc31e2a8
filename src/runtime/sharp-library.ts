/**
 * Makes sharp (libvips) loadable inside the compiled binary, for the image tasks' workers. sharp
 * loads its native addon with `require("@img/sharp-<platform>-<arch>/sharp.node")`, which has no
 * file to find there, and the addon links against libvips-cpp.so, which its RPATH
 * ($ORIGIN/../../sharp-libvips-<platform>-<arch>/lib) expects in the neighbouring package.
 *
 * scripts/build-binary.ts embeds both packages' lib folders (EMBEDDED_ASSETS.sharpAddon and
 * .sharpLibvips) and, in the bundled copy of sharp, replaces that one `require` with a call to
 * `loadEmbeddedSharpAddon`, naming the two files. This copies them out of the binary into a fresh
 * temporary directory with their node_modules/@img/… layout kept (so the RPATH finds libvips), loads
 * the addon from there, and removes the directory at once: a loaded library stays mapped after its
 * file is gone, so nothing is left behind in $TMPDIR.
 *
 * Runs once per worker process, when an image task first imports sharp; never from source.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { assetPath } from "./embedded-assets.ts";

/** The two files, as paths relative to the repository root (and to the embedded tree). */
export interface SharpLibraryFiles {
  /** node_modules/@img/sharp-<platform>-<arch>/lib/sharp-<platform>-<arch>-<version>.node */
  addon: string;
  /** node_modules/@img/sharp-libvips-<platform>-<arch>/lib/libvips-cpp.so.<version> */
  libvips: string;
}

/** Prefix of the short-lived directory the two files are copied into. */
export const SHARP_EXTRACT_PREFIX = "modelmora-sharp-";

/**
 * sharp's native module (what its `require(".../sharp.node")` would answer), loaded from copies of
 * the embedded files.
 *
 * @example
 * const addon = loadEmbeddedSharpAddon({ addon: "node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64-0.35.5.node", libvips: "…" });
 */
export function loadEmbeddedSharpAddon(files: SharpLibraryFiles): unknown {
  const directory = mkdtempSync(path.join(os.tmpdir(), SHARP_EXTRACT_PREFIX));
  try {
    for (const relativePath of [files.libvips, files.addon]) {
      const target = path.join(directory, relativePath);
      mkdirSync(path.dirname(target), { recursive: true });
      // Read and written rather than copied: the source lies in Bun's embedded file system.
      writeFileSync(target, readFileSync(assetPath(relativePath)));
    }
    const module = { exports: {} as unknown };
    process.dlopen(module, path.join(directory, files.addon));
    return module.exports;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
