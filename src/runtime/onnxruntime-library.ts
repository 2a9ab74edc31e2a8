/**
 * Makes onnxruntime loadable inside the compiled binary. The bundler embeds
 * onnxruntime_binding.node and, when it is required, writes it to a temporary file and loads it
 * from there; the binding links against libonnxruntime.so.1, which its RUNPATH ($ORIGIN) would
 * look for next to that temporary file and not find. Opening the embedded copy of the library
 * first makes the dynamic loader reuse it: a NEEDED entry is satisfied by an already-loaded object
 * with the same SONAME before any directory is searched.
 *
 * Only the worker entry calls this, once, before it imports onnxruntime-node.
 */
import { dlopen } from "bun:ffi";
import { EMBEDDED_ASSETS, RUNNING_FROM_BINARY, assetPath } from "./embedded-assets.ts";

/** Kept for the life of the process: the library must never be unloaded under the binding. */
let library: { close(): void } | undefined;

export function loadEmbeddedOnnxruntime(): void {
  if (!RUNNING_FROM_BINARY || library) return;
  // OrtGetApiBase is onnxruntime's one C entry point; naming it checks that this is the library.
  library = dlopen(assetPath(EMBEDDED_ASSETS.onnxruntimeLibrary), { OrtGetApiBase: { args: [], returns: "ptr" } });
}
